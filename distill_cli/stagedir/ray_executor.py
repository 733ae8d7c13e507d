"""The runner's Ray executor: a map stage's shards as Ray tasks, written by this process through the same StageDir.

Each input unit (a row range of one input file) is read here, sent to a Ray task that runs the stage's own
`process(df, task)` (the same `process_unit` a local run calls), and its result is written here: shard names,
footers, stats and the manifest are exactly those of a local run, so either can resume the other. Output never
needs a shared filesystem; the in-shard checkpoints (`_work/`) are only useful after a kill when the task's node
shares the output directory.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from distill_cli.errors import DistillError, StageFailure, require
from distill_cli.progress import Progress
from distill_cli.stagedir.directory import StageDir
from distill_cli.stagedir.inputs import InputSet, Unit
from distill_cli.stagedir.runner import MapJob, Process, RunOptions, process_unit, run_map


@dataclass(frozen=True)
class Ray:
    """`task_options` go to `ray.remote` (e.g. {"num_gpus": 1} for a vLLM engine per task)."""

    address: str | None = None
    task_options: dict | None = None
    max_in_flight: int | None = None

    def run(self, job: MapJob) -> None:
        ray = require("ray", "ray")
        started_ray = _connect(ray, self.address)
        try:
            options = fit_options(self.task_options or {"num_cpus": 1}, ray.cluster_resources())
            remote = ray.remote(_run_unit).options(**options)
            limit = self.max_in_flight or max(2, 2 * int(ray.cluster_resources().get("CPU", 1)))
            pending: dict = {}
            queue = list(job.todo)
            while queue or pending:
                while queue and len(pending) < limit:
                    unit = queue.pop(0)
                    ref = remote.remote(job.read(unit), unit, str(job.sd.work_dir(unit.index)), job.process)
                    pending[ref] = unit
                ready, _ = ray.wait(list(pending), num_returns=1)
                unit = pending.pop(ready[0])
                try:
                    out, stats = _result(ray, ready[0], job.stage, unit)
                except BaseException:
                    for ref in pending:  # a failed stage stops its other shards too, as a local run would
                        ray.cancel(ref, force=True)
                    raise
                job.write(unit, out, stats)
        finally:
            if started_ray:
                ray.shutdown()


def run_map_ray(stage: str, inp: InputSet, opts: RunOptions, params: dict, process: Process,
                columns: list[str] | None = None, *, address: str | None = None, task_options: dict | None = None,
                max_in_flight: int | None = None) -> StageDir:
    """`run_map` with the Ray executor (default task options: `--workers` CPUs each)."""
    executor = Ray(address, task_options or {"num_cpus": opts.workers}, max_in_flight)
    return run_map(stage, inp, opts, params, process, columns, executor=executor)


def fit_options(options: dict, cluster: dict) -> dict:
    """Task options the cluster can ever schedule (Ray would otherwise wait forever): an engine's `num_gpus` only
    where the cluster has GPUs (a CPU-only cluster runs vLLM's CPU build), at most as many CPUs as it has."""
    out = dict(options)
    if out.get("num_gpus") and not cluster.get("GPU"):
        out.pop("num_gpus")
    cpus = int(cluster.get("CPU", 0))
    if cpus and out.get("num_cpus", 0) > cpus:
        out["num_cpus"] = cpus
    return out


def _connect(ray, address: str | None) -> bool:
    """Join the given cluster, or start a local Ray; returns whether this call started it (and must stop it)."""
    if ray.is_initialized():
        return False
    try:
        ray.init(address=address, include_dashboard=False, logging_level="ERROR", log_to_driver=True)
    except ConnectionError as exc:
        raise StageFailure(f"--ray-address {address}: cannot reach a Ray cluster ({exc})") from exc
    return True


def _run_unit(df: pl.DataFrame, unit: Unit, work_dir: str, process: Process) -> tuple:
    """Inside the Ray worker: the stage's own core over one unit (no progress bar of its own)."""
    with Progress("", None, quiet=True) as bar:
        return process_unit(df, unit, Path(work_dir), process, bar)


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
