"""grade's glue: build the small per-(prompt, model) table over the whole input, then attach it to every shard
(several shards at once: the attach is a polars join). Options are parsed by cli/grade.py; the math is core.py."""

from __future__ import annotations

from dataclasses import asdict

import polars as pl

from distill_cli import schema
from distill_cli.errors import BadInput, one_line
from distill_cli.progress import console
from distill_cli.stagedir.atomic import write_parquet
from distill_cli.stagedir.directory import StageDir
from distill_cli.stagedir.inputs import open_input
from distill_cli.stagedir.messages import already_complete, shard_pending
from distill_cli.stagedir.runner import RunOptions, ShardTask, run_map
from distill_cli.stages.grade.core import GradeConfig, Lookup, attach, grade_counters, grade_table, summary

SUMMARY = f"{schema.SUMMARY}.parquet"


def run(input: str, cfg: GradeConfig, opts: RunOptions) -> StageDir:
    """Grade the rows of `input` into `opts.out`; returns the stage directory."""
    output, quiet, workers = opts.out, opts.quiet, opts.workers
    reference_model, ignored = cfg.reference_model, cfg.ignore_verdicts
    inp = open_input(input)
    tokens = {"completion_tokens": pl.Int64} if "completion_tokens" in inp.schema else {}
    inp.require("grade", {"id": pl.String, "model": pl.String, "verdict": pl.String, "score": pl.Float64, **tokens})

    # every (id, model) over the whole input, even under --shard: a prompt's samples may sit in several shards
    try:
        table = grade_table(inp.scan(opts.limit), cfg, str(inp.spec))
    except pl.exceptions.PolarsError as exc:
        raise BadInput(f"{inp.spec}: cannot read input: {one_line(exc)}") from exc
    lookup = Lookup.build(table)
    prompts = summary(lookup.table)

    def process(rows: pl.DataFrame, task: ShardTask) -> tuple[pl.DataFrame, dict]:  # thread-safe: reads `lookup`
        return attach(rows, lookup), {}

    params = {"bands": [asdict(b) for b in cfg.bands], "reference_model": reference_model,
              "ignore_verdicts": list(ignored)}
    sd = run_map("grade", inp, opts, params=params, process=process,
                 prepare=lambda path: write_parquet(path / SUMMARY, prompts),  # a complete run has it
                 final_stats=grade_counters(lookup.table, prompts, cfg), threads=max(2, workers))
    if not quiet and not already_complete("grade", sd, output, quiet) and \
            not shard_pending("grade", sd, opts.shard, output, quiet):
        stats = sd.read_manifest().get("stats", {})
        mix = ", ".join(f"{k} {v}" for k, v in stats.get("difficulty_groups", {}).items())
        console.print(f"grade: {stats.get('rows_out', 0)} rows, {stats.get('groups', 0)} (prompt, model) groups "
                      f"-> {output}; difficulty: {mix or 'none'}")
    return sd
