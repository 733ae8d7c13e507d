"""filter's glue: run the checks over every shard, keep each shard's dropped rows beside it, and join them into
one `_filtered.parquet` when the last shard is written. Options are parsed by cli/filter.py; checks are core.py."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import polars as pl

from distill_cli import schema
from distill_cli.progress import console
from distill_cli.stagedir.atomic import write_parquet
from distill_cli.stagedir.directory import StageDir
from distill_cli.stagedir.inputs import open_input
from distill_cli.stagedir.runner import RunOptions, ShardTask, run_map
from distill_cli.stages.filter import FILTERED_SCHEMA, FilterConfig, filter_frame

FILTERED = f"{schema.FILTERED}.parquet"
PIECES = Path("_work") / "filtered"  # per-shard side tables until the run is complete
SIDE_SCHEMA = {"file": pl.String, **FILTERED_SCHEMA}


def run(input: str, cfg: FilterConfig, opts: RunOptions) -> StageDir:
    """Filter the traces of `input` into `opts.out`; returns the stage directory."""
    output, quiet, perplexity_column = opts.out, opts.quiet, cfg.perplexity_column
    inp = open_input(input)
    needed: dict = {"reasoning": pl.String, "response": pl.String}
    if cfg.max_foreign_script is not None or cfg.max_foreign_language is not None:
        needed["prompt"] = pl.String
    if cfg.max_perplexity is not None or cfg.min_perplexity is not None:
        needed[perplexity_column] = pl.Float64
    inp.require("filter", needed, not_null=())

    def process(df: pl.DataFrame, task: ShardTask) -> tuple[pl.DataFrame, dict]:
        result = filter_frame(df, cfg)
        assert task.unit is not None
        side = result.filtered.with_columns(file=pl.lit(task.unit.file.name),
                                            row=pl.col("row") + task.unit.start).select(list(SIDE_SCHEMA))
        # the shard's side table before the shard: a finished shard always has it
        (opts.out / PIECES).mkdir(parents=True, exist_ok=True)
        write_parquet(opts.out / PIECES / f"part-{task.index:05d}.parquet", side)
        task.progress.advance(df.height)
        return result.kept, result.stats

    sd = run_map("filter", inp, opts, params=asdict(cfg), process=process, complete=_join_side)
    if not quiet and sd.read_manifest().get("complete"):
        _summary(sd.read_manifest().get("stats", {}), output)
    return sd


def _join_side(stage_dir: Path) -> None:
    """Join the shards' side tables into one _filtered.parquet, once every shard is written."""
    pieces = sorted((stage_dir / PIECES).glob("part-*.parquet"))
    if not pieces and (stage_dir / FILTERED).exists():
        return  # joined by a run killed before it could mark the directory complete
    frames = [pl.read_parquet(p) for p in pieces]
    side = pl.concat(frames) if frames else pl.DataFrame(schema=SIDE_SCHEMA)
    write_parquet(stage_dir / FILTERED, side)


def _summary(stats: dict, output: Path) -> None:
    dropped = {k: v for k, v in (stats.get("dropped") or {}).items() if v}
    why = ", ".join(f"{k} {v}" for k, v in sorted(dropped.items(), key=lambda kv: -kv[1])) or "none"
    console.print(f"filter: {stats.get('rows_in', 0)} traces -> {stats.get('rows_out', 0)} kept -> {output}; "
                  f"dropped {sum(dropped.values())} ({why}); each listed in {output / FILTERED}")
