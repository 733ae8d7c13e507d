"""Drive a stage over its input: pick the shards to do, show progress, write them, mark the run complete.

Two shapes cover every stage: `run_map` for stages whose output shard i is made from input unit i (generate, verify,
compress, and grade once its small per-(id, model) table is built); and `run_global` for stages that need every
row at once (select, dedupe), where `--shard I/N` partitions the rows by prompt id instead.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from distill_cli.errors import BadInput, one_line
from distill_cli.progress import DEFAULT_INTERVAL, Progress
from distill_cli.stagedir.checkpoint import ShardCheckpoint
from distill_cli.stagedir.directory import StageDir
from distill_cli.stagedir.inputs import InputSet, Unit


@dataclass(frozen=True)
class RunOptions:
    """The options every stage takes (DESIGN.md: common options)."""

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


@contextmanager
def _guard(sd: StageDir) -> Iterator[None]:
    try:
        yield
    except BaseException:
        sd.abandon()
        raise


def run_map(
    stage: str,
    inp: InputSet,
    opts: RunOptions,
    params: dict,
    process: Callable[[pl.DataFrame, ShardTask], tuple[pl.DataFrame, dict]],
    columns: list[str] | None = None,
    prepare: Callable[[Path], None] | None = None,
    final_stats: dict | None = None,
    threads: int = 1,
    complete: Callable[[Path], None] | None = None,
) -> StageDir:
    """`prepare(dir)` runs once the directory is open, before any shard (grade writes its summary there);
    `complete(dir)` runs when every shard exists, before the manifest says complete (filter joins its per-shard
    side tables there: a complete directory always has them whole);
    `final_stats` are whole-run counters, added to _stats.json once rather than summed over shards; `threads` > 1
    works on that many shards at once, for a `process` that is thread-safe and mostly polars (which frees the GIL)."""
    sd, units = open_map(stage, inp, opts, params)
    if prepare is not None:
        with _guard(sd):
            prepare(sd.path)
    todo = [u for u in units if opts.selects(u.index) and not sd.done(u.index)]
    with _guard(sd), Progress(stage, sum(u.rows for u in todo), quiet=opts.quiet,
                                   interval=opts.progress_interval) as bar:

        def one(unit: Unit) -> None:
            started = time.perf_counter()
            task = ShardTask(unit.index, unit, ShardCheckpoint(sd.work_dir(unit.index)), bar)
            df = inp.read(unit, columns)
            out, stats = process(df, task)
            stats = {"rows_in": df.height, **stats, "seconds": round(time.perf_counter() - started, 3)}
            sd.write_shard(unit.index, out, stats)
            bar.shard_done(unit.rows)

        if threads > 1 and len(todo) > 1:
            with ThreadPoolExecutor(threads) as pool:
                for _ in pool.map(one, todo):  # re-raises the first failure
                    pass
        else:
            for unit in todo:
                one(unit)
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


def open_map(stage: str, inp: InputSet, opts: RunOptions, params: dict) -> tuple[StageDir, list[Unit]]:
    """The output directory of a row-local stage, opened (conflicts checked, --overwrite applied), and its units."""
    units = inp.units(opts.rows_per_shard, opts.limit)
    sd = StageDir(opts.out, stage, {**params, **opts.semantic()}, inp.fingerprint(), len(units),
                  upstream=[str(Path(inp.spec).resolve())])
    sd.open(opts.overwrite)
    return sd, units


@dataclass(frozen=True)
class Streamed:
    """A global stage's output streamed rather than held: its row count and schema are known before its rows,
    which `batches()` yields in order (dedupe filters the input a batch at a time)."""

    rows: int
    schema: pl.Schema
    batches: Callable[[], Iterator[pl.DataFrame]]


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
        first = opts.shard[0] if opts.shard else 0
        if isinstance(out, Streamed) and not opts.shard:
            _write_streamed(sd, out, opts.rows_per_shard, stats)
        else:
            for index, piece in _pieces(out, opts):
                if not sd.done(index):
                    sd.write_shard(index, piece, stats if index == first else {})
        sd.finish()
    _say_empty(stage, inp, opts)
    return sd


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


def _pieces(out: pl.DataFrame | Streamed, opts: RunOptions) -> Iterator[tuple[int, pl.DataFrame]]:
    """Output shards in order: this partition's one shard under --shard (a Streamed output is gathered: one
    partition), else rows_per_shard rows each of a held frame."""
    if opts.shard:
        frame = out if isinstance(out, pl.DataFrame) else pl.concat([pl.DataFrame(schema=out.schema),
                                                                      *out.batches()])
        yield opts.shard[0], frame
        return
    for i in range(max(1, math.ceil(out.height / opts.rows_per_shard))):
        yield i, out.slice(i * opts.rows_per_shard, opts.rows_per_shard)


def pick_runner(executor: str, ray_address: str | None = None, **task_options) -> Callable:
    """`run_map` or a `run_map_ray` bound to a cluster: the call site stays `runner(stage, inp, opts, ...)`."""
    if executor == "local":
        if ray_address is not None:
            raise BadInput("--ray-address: only with --executor ray")
        return run_map
    if executor != "ray":
        raise BadInput(f"--executor {executor!r}: expected local or ray")
    from functools import partial

    from distill_cli.stagedir.ray_executor import run_map_ray

    return partial(run_map_ray, address=ray_address, task_options=task_options or None)
