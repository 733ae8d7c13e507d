"""select's glue: open the graded rows, decide on their narrow columns, stream the kept rows into shards.
The options are parsed by cli/select.py; the selection itself is core.py."""

from __future__ import annotations

import json
from dataclasses import asdict

import polars as pl

from distill_cli.progress import console
from distill_cli.stagedir.directory import StageDir
from distill_cli.stagedir.inputs import open_input
from distill_cli.stagedir.messages import already_complete, shard_pending
from distill_cli.stagedir.runner import RunOptions, Streamed, run_global, stream_rows
from distill_cli.stages.select.core import ROW, SelectConfig, final_rows, known_names, needed_columns, select_rows

STREAM_ROWS = 20_000  # selected rows read from the input per batch on their way to the output shards


def run(input: str, cfg: SelectConfig, opts: RunOptions) -> StageDir:
    """Select rows of `input` into `opts.out`; returns the stage directory."""
    output, quiet = opts.out, opts.quiet
    inp = open_input(input)
    inp.require("select", needed_columns(cfg, list(inp.schema)))
    warnings: list[str] = []

    known = known_values(inp.upstream)

    def compute(lf: pl.LazyFrame, run: RunOptions) -> tuple[pl.DataFrame | Streamed, dict]:
        keep, stats, notes = select_rows(lf, cfg, known)
        warnings.extend(notes)
        if cfg.pairs:  # pairs come out in pair order, not input order: one frame of at most 2 rows per pair
            return final_rows(lf, keep, cfg, lf.collect_schema().names()), stats
        positions = keep.get_column(ROW).sort().to_numpy()
        return Streamed(keep.height, lf.collect_schema(), stream_rows(inp, run, positions, STREAM_ROWS)), stats

    sd = run_global("select", inp, opts, params=json.loads(json.dumps(asdict(cfg))), compute=compute)
    for note in warnings:
        console.print(f"[yellow]Warning:[/yellow] {note}")
    if not quiet and not already_complete("select", sd, output, quiet) and \
            not shard_pending("select", sd, opts.shard, output, quiet):
        stats = sd.read_manifest().get("stats", {})
        dropped = ", ".join(f"{k} {v}" for k, v in stats.get("dropped", {}).items() if v)
        console.print(f"select: {stats.get('rows_in', 0)} rows in, {stats.get('rows_out', 0)} out "
                      f"({stats.get('prompts_out', 0)} prompts) -> {output}; dropped: {dropped or 'none'}")

    return sd


def known_values(upstream: dict | None) -> dict[str, tuple[str, ...]]:
    """Bands and domains valid even when no row has them: the bands of the grade run that made the input (its
    manifest), else grade's defaults; see stages/select/core.py `known_names`."""
    bands = None
    if upstream and upstream.get("stage") == "grade":
        bands = [b["name"] for b in (upstream.get("params") or {}).get("bands") or []] or None
    return known_names(bands)
