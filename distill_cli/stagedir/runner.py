"""The one runner: open a stage's directory, choose the shards this task does, run them through an executor,
write each shard atomically, and mark the directory complete when every shard is there.

A stage declares its shape and the runner does the rest:
- a map stage (`run_map`): output shard i is made from input unit i alone (generate, verify, compress, filter,
  and grade once its small per-(id, model) table is built). Its shards run through an executor: `Local` (this
  process, one shard or several on threads) or `Ray` (stagedir/ray_executor.py: one Ray task per shard).
- a global stage (`run_global`): the decision needs every row (select, dedupe); it runs once, over the input, and
  its output is cut into shards.
- an in-memory frame (`write_frame`, collect's prompts): cut into shards of rows_per_shard rows.

`--shard I/N` means one thing in every stage: this task writes the output shards whose index is I modulo N (Slurm
arrays, or any scheduler). A map stage's shards are its input units; a global stage under --shard cuts the rows
into N partitions by prompt id, so each task decides over whole prompts, and writes partition I as shard I.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import polars as pl

from distill_cli.errors import BadInput, one_line
from distill_cli.progress import DEFAULT_INTERVAL, Progress
from distill_cli.stagedir.checkpoint import ShardCheckpoint
from distill_cli.stagedir.directory import StageDir
from distill_cli.stagedir.inputs import InputSet, Unit


@dataclass(frozen=True)
class RunOptions:
    """The options every stage takes (docs/architecture.md: common options)."""

    out: Path
    shard: tuple[int, int] | None = None
    limit: int | None = None
    overwrite: bool = False
    workers: int = 1
    quiet: bool = False
    rows_per_shard: int = 100_000
    progress_interval: float = DEFAULT_INTERVAL  # seconds between plain progress lines in a log (0: none)
    only: frozenset[int] | None = None  # the shards one replica of --data-parallel-size does (not in params)

    def selects(self, index: int) -> bool:
        """Whether this task writes output shard `index`: the one meaning of --shard I/N."""
        if self.only is not None and index not in self.only:
            return False
        return self.shard is None or index % self.shard[1] == self.shard[0]

    def semantic(self) -> dict:
        """The options that change a stage's output, and so belong in its params."""
        return {"limit": self.limit, "rows_per_shard": self.rows_per_shard}


def parse_shard(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise BadInput(f"--shard {text!r}: expected I/N with whole numbers, e.g. 0/8") from None
    if n < 1 or not 0 <= i < n:
        raise BadInput(f"--shard {text!r}: need 0 <= I < N")
    return i, n


@dataclass
class ShardTask:
    """What a stage core may use while it works on one shard: its checkpoint and the progress bar."""

    index: int
    unit: Unit | None
    checkpoint: ShardCheckpoint
    progress: Progress
    stats: dict = field(default_factory=dict)


Process = Callable[[pl.DataFrame, ShardTask], tuple[pl.DataFrame, dict]]


def process_unit(df: pl.DataFrame, unit: Unit, work_dir: Path, process: Process, progress: Progress
                 ) -> tuple[pl.DataFrame, dict]:
    """A map stage's core over one unit, timed; the same call in this process, on a thread or in a Ray task."""
    started = time.perf_counter()
    out, stats = process(df, ShardTask(unit.index, unit, ShardCheckpoint(work_dir), progress))
    return out, {"rows_in": df.height, **stats, "seconds": round(time.perf_counter() - started, 3)}


@dataclass(frozen=True)
class MapJob:
    """The shards an executor runs, and how each is read and written (writing stays in this process)."""

    stage: str
    todo: list[Unit]
    read: Callable[[Unit], pl.DataFrame]
    process: Process
    sd: StageDir
    progress: Progress

    def write(self, unit: Unit, out: pl.DataFrame, stats: dict) -> None:
        self.sd.write_shard(unit.index, out, stats)
        self.progress.shard_done(unit.rows)


class Executor(Protocol):
    def run(self, job: MapJob) -> None: ...


@dataclass(frozen=True)
class Local:
    """Shards in this process, one at a time, or `threads` at once for a thread-safe, mostly-polars core."""

    threads: int = 1

    def run(self, job: MapJob) -> None:
        def one(unit: Unit) -> None:
            out, stats = process_unit(job.read(unit), unit, job.sd.work_dir(unit.index), job.process, job.progress)
            job.write(unit, out, stats)

        if self.threads > 1 and len(job.todo) > 1:
            with ThreadPoolExecutor(self.threads) as pool:
                for _ in pool.map(one, job.todo):  # re-raises the first failure
                    pass
        else:
            for unit in job.todo:
                one(unit)


def executor_for(name: str, ray_address: str | None = None, workers: int = 1, **task_options) -> Executor:
    """The executor `--executor NAME` names; `task_options` go to each Ray task (e.g. num_gpus for an engine)."""
    if name == "local":
        if ray_address is not None:
            raise BadInput("--ray-address: only with --executor ray")
        return Local()
    if name != "ray":
        raise BadInput(f"--executor {name!r}: expected local or ray")
    from distill_cli.stagedir.ray_executor import Ray

    return Ray(ray_address, task_options or {"num_cpus": workers})


@contextmanager
def _guard(sd: StageDir) -> Iterator[None]:
    """A failed run that finished no shard leaves no directory that looks like output."""
    try:
        yield
    except BaseException:
        sd.abandon()
        raise


def open_map(stage: str, inp: InputSet, opts: RunOptions, params: dict) -> tuple[StageDir, list[Unit]]:
    """The output directory of a map stage, opened (conflicts checked, --overwrite applied), and its units."""
    units = inp.units(opts.rows_per_shard, opts.limit)
    sd = StageDir(opts.out, stage, {**params, **opts.semantic()}, inp.fingerprint(), len(units),
                  upstream=[str(Path(inp.spec).resolve())])
    sd.open(opts.overwrite)
    return sd, units


def run_map(
    stage: str,
    inp: InputSet,
    opts: RunOptions,
    params: dict,
    process: Process,
    columns: list[str] | None = None,
    prepare: Callable[[Path], None] | None = None,
    final_stats: dict | None = None,
    threads: int = 1,
    complete: Callable[[Path], None] | None = None,
    executor: Executor | None = None,
) -> StageDir:
    """A map stage over its input. `prepare(dir)` runs once the directory is open, before any shard (grade writes
    its summary there); `complete(dir)` runs when every shard exists, before the manifest says complete (filter
    joins its per-shard side tables there); `final_stats` are whole-run counters, added to _stats.json once
    rather than summed over shards; `threads` > 1 runs that many shards at once with the local executor."""
    sd, units = open_map(stage, inp, opts, params)
    with _guard(sd):
        if prepare is not None:
            prepare(sd.path)
        todo = [u for u in units if opts.selects(u.index) and not sd.done(u.index)]
        with Progress(stage, sum(u.rows for u in todo), quiet=opts.quiet, interval=opts.progress_interval) as bar:
            job = MapJob(stage, todo, lambda unit: inp.read(unit, columns), process, sd, bar)
            (executor or Local(threads)).run(job)
            if complete is not None and all(sd.done(i) for i in range(len(units))):
                complete(sd.path)
            sd.finish(final_stats)
    _say_empty(stage, inp, opts)
    return sd


def _say_empty(stage: str, inp: InputSet, opts: RunOptions) -> None:
    """An empty input is no error (a filter upstream may keep nothing), but it is worth one line in a log."""
    if inp.empty and not opts.quiet:
        from distill_cli.progress import console

        console.print(f"{stage}: 0 rows in -> {opts.out} (a complete, empty stage)")


@dataclass(frozen=True)
class Streamed:
    """A global stage's output streamed rather than held: its row count and schema are known before its rows,
    which `batches()` yields in order (dedupe filters the input a batch at a time)."""

    rows: int
    schema: pl.Schema
    batches: Callable[[], Iterator[pl.DataFrame]]


def stream_rows(inp: InputSet, opts: RunOptions, rows=None, batch_rows: int = 20_000,
                columns: list[str] | None = None) -> Callable[[], Iterator[pl.DataFrame]]:
    """The `batches` of a Streamed output: the rows of run_global's frame (its --limit and --shard applied) at the
    sorted positions `rows` (None: all), read a row group at a time (InputSet.stream); columns: only these (under
    --shard, with `id`, which the partition reads)."""
    where = partition_expr(opts.shard[1]) == opts.shard[0] if opts.shard else None
    return lambda: inp.stream(batch_rows, opts.limit, where, rows, columns)


def partition_expr(n: int) -> pl.Expr:
    """Stable partition of prompts by their hex content-hash id, the same in every process."""
    return pl.col("id").str.slice(0, 12).str.to_integer(base=16, strict=False).fill_null(0) % n


def run_global(
    stage: str,
    inp: InputSet,
    opts: RunOptions,
    params: dict,
    compute: Callable[[pl.LazyFrame, RunOptions], tuple[pl.DataFrame | Streamed, dict]],
) -> StageDir:
    """A global stage: `compute` decides over the whole input (or this task's partition of prompts)."""
    n_parts = opts.shard[1] if opts.shard else None
    sd = StageDir(opts.out, stage, {**params, **opts.semantic(), "shard_count": n_parts}, inp.fingerprint(), 0,
                  upstream=[str(Path(inp.spec).resolve())])
    sd.open(opts.overwrite)
    with _guard(sd), Progress(stage, None, quiet=opts.quiet, interval=opts.progress_interval):
        lf = inp.scan(opts.limit)
        if opts.shard:
            lf = lf.filter(partition_expr(opts.shard[1]) == opts.shard[0])
        started = time.perf_counter()
        try:
            out, stats = compute(lf, opts)
        except (pl.exceptions.ComputeError, pl.exceptions.SchemaError, OSError) as exc:
            if isinstance(exc, OSError) and exc.errno is not None:
                raise  # a write failure (disk full, read-only): reported as such by the CLI
            raise BadInput(f"{inp.spec}: cannot read input: {one_line(exc)}") from exc
        stats = {**stats, "seconds": round(time.perf_counter() - started, 3)}
        rows = out.rows if isinstance(out, Streamed) else out.height
        sd.n_shards = opts.shard[1] if opts.shard else max(1, math.ceil(rows / opts.rows_per_shard))
        if opts.shard:  # this task's partition is its one shard
            frame = out if isinstance(out, pl.DataFrame) else pl.concat([pl.DataFrame(schema=out.schema),
                                                                          *out.batches()])
            if not sd.done(opts.shard[0]):
                sd.write_shard(opts.shard[0], frame, stats)
        elif isinstance(out, Streamed):
            _write_streamed(sd, out, opts.rows_per_shard, stats)
        else:
            _write_frame_shards(sd, out, opts, stats)
        sd.finish()
    _say_empty(stage, inp, opts)
    return sd


def write_frame(stage: str, rows: pl.DataFrame, opts: RunOptions, params: dict, fingerprints: list[dict],
                upstream: list[str], stats: dict, after: Callable[[], None] | None = None) -> StageDir:
    """Rows already in memory (collect's prompts) cut into shards of rows_per_shard; `after()` runs once they are
    written, before the directory is marked complete (collect writes its rejected rows there)."""
    n_shards = math.ceil(rows.height / opts.rows_per_shard)
    sd = StageDir(opts.out, stage, params, fingerprints, n_shards, upstream=upstream).open(opts.overwrite)
    with _guard(sd):
        _write_frame_shards(sd, rows, opts, stats)
        if after is not None:
            after()
        sd.finish()
    return sd


def _write_frame_shards(sd: StageDir, rows: pl.DataFrame, opts: RunOptions, stats: dict) -> None:
    """Shard i holds rows i*rows_per_shard onward; the stage's stats ride in shard 0's footer."""
    for i in range(sd.n_shards):
        if opts.selects(i) and not sd.done(i):
            sd.write_shard(i, rows.slice(i * opts.rows_per_shard, opts.rows_per_shard), stats if i == 0 else {})


def _write_streamed(sd: StageDir, out: Streamed, rows_per_shard: int, stats: dict) -> None:
    """Shards of rows_per_shard rows written as the batches arrive: one batch in memory, not one shard."""
    rows = _Rows(out.batches())
    for index in range(sd.n_shards):
        frames = rows.take(rows_per_shard)
        if sd.done(index):
            for _ in frames:  # already written by an earlier run: skip its rows
                pass
        else:
            sd.write_shard_stream(index, out.schema, frames, stats if index == 0 else {})


class _Rows:
    """A stream of frames cut at any row count: take(n) yields frames holding the next n rows."""

    def __init__(self, frames: Iterator[pl.DataFrame]):
        self._frames, self._left = iter(frames), None

    def take(self, n: int) -> Iterator[pl.DataFrame]:
        while n > 0:
            frame = self._left if self._left is not None else next(self._frames, None)
            if frame is None:
                return
            self._left = frame.slice(n) if frame.height > n else None
            frame = frame.head(n)
            n -= frame.height
            yield frame
