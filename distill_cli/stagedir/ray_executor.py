"""Run a row-local stage's shards as Ray tasks, writing them through the same StageDir as a local run.

Each input unit (a row range of one input file) is read here, sent to a Ray task that runs the stage's own
`process(df, task)`, and its result is written by this process with `StageDir.write_shard`: shard names,
footers, stats and the manifest are exactly those of `run_map`, so a Ray run and a local run give the same
output directory, and either can resume the other. Output never needs a shared filesystem; the in-shard
checkpoints (`_work/`) are only useful after a kill when the task's node shares the output directory.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl

from distill_cli.errors import DistillError, StageFailure, require
from distill_cli.progress import Progress
from distill_cli.stagedir.checkpoint import ShardCheckpoint
from distill_cli.stagedir.directory import StageDir
from distill_cli.stagedir.inputs import InputSet, Unit
from distill_cli.stagedir.runner import RunOptions, ShardTask

Process = Callable[[pl.DataFrame, ShardTask], tuple[pl.DataFrame, dict]]


def run_map_ray(
    stage: str,
    inp: InputSet,
    opts: RunOptions,
    params: dict,
    process: Process,
    columns: list[str] | None = None,
    *,
    address: str | None = None,
    task_options: dict | None = None,
    max_in_flight: int | None = None,
) -> StageDir:
    """Same contract as `io.runner.run_map`; `task_options` go to `ray.remote` (default: `--workers` CPUs each,
    e.g. {"num_gpus": 1} for a vLLM engine per task)."""
    ray = require("ray", "ray")
    units = inp.units(opts.rows_per_shard, opts.limit)
    sd = StageDir(opts.out, stage, {**params, **opts.semantic()}, inp.fingerprint(), len(units),
                  upstream=[str(Path(inp.spec).resolve())])
    sd.open(opts.overwrite)
    todo = [u for u in units if opts.selects(u.index) and not sd.done(u.index)]
    started_ray = _connect(ray, address)
    try:
        with _abandon_on_failure(sd), Progress(stage, sum(u.rows for u in todo), quiet=opts.quiet,
                                                      interval=opts.progress_interval) as bar:
            remote = ray.remote(_run_unit).options(**(task_options or {"num_cpus": opts.workers}))
            limit = max_in_flight or max(2, 2 * int(ray.cluster_resources().get("CPU", 1)))
            pending: dict = {}
            queue = list(todo)
            while queue or pending:
                while queue and len(pending) < limit:
                    unit = queue.pop(0)
                    ref = remote.remote(inp.read(unit, columns), unit, str(sd.work_dir(unit.index)), stage, process)
                    pending[ref] = unit
                ready, _ = ray.wait(list(pending), num_returns=1)
                unit = pending.pop(ready[0])
                try:
                    out, stats = _result(ray, ready[0], stage, unit)
                except BaseException:
                    for ref in pending:  # a failed stage stops its other shards too, as run_map would
                        ray.cancel(ref, force=True)
                    raise
                sd.write_shard(unit.index, out, stats)
                bar.shard_done(unit.rows)
            sd.finish()
    finally:
        if started_ray:
            ray.shutdown()
    return sd


@contextmanager
def _abandon_on_failure(sd: StageDir) -> Iterator[None]:
    """As in run_map: a failed run that finished no shard leaves no directory that looks like output."""
    try:
        yield
    except BaseException:
        sd.abandon()
        raise


def _connect(ray, address: str | None) -> bool:
    """Join the given cluster, or start a local Ray; returns whether this call started it (and must stop it)."""
    if ray.is_initialized():
        return False
    try:
        ray.init(address=address, include_dashboard=False, logging_level="ERROR", log_to_driver=True)
    except ConnectionError as exc:
        raise StageFailure(f"--ray-address {address}: cannot reach a Ray cluster ({exc})") from exc
    return True


def _run_unit(df: pl.DataFrame, unit: Unit, work_dir: str, stage: str, process: Process) -> tuple:
    """Inside the Ray worker: the stage's own core over one unit, timed like run_map times it."""
    started = time.perf_counter()
    with Progress(stage, None, quiet=True) as bar:
        task = ShardTask(unit.index, unit, ShardCheckpoint(Path(work_dir)), bar)
        out, stats = process(df, task)
    return out, {"rows_in": df.height, **stats, "seconds": round(time.perf_counter() - started, 3)}


def _result(ray, ref, stage: str, unit: Unit) -> tuple[pl.DataFrame, dict]:
    """The task's output; a project error raised in the task is raised here as itself (same message, exit code)."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayTaskError as exc:
        cause = getattr(exc, "cause", None)
        if isinstance(cause, DistillError):
            raise cause from None
        detail = " ".join(str(cause or exc).split())[-300:]
        raise StageFailure(f"{stage}: Ray task for shard {unit.index} ({unit.file}) failed: {detail}") from exc
