"""distill grade: verified rows in, the same rows with pass rate, CV and difficulty out."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import polars as pl
import typer

from distill_cli.cli.base import app
from distill_cli.cli.common import (
    Limit,
    Output,
    Overwrite,
    ProgressInterval,
    Quiet,
    RowsPerShard,
    Shard,
    Workers,
    already_complete,
    run_options,
    shard_pending,
)
from distill_cli.errors import BadInput, one_line
from distill_cli.progress import console
from distill_cli.schema import VERDICTS
from distill_cli.stagedir.atomic import write_parquet
from distill_cli.stagedir.inputs import open_input
from distill_cli.stagedir.runner import ShardTask, run_map
from distill_cli.stages.grade.core import (
    DEFAULT_BANDS,
    GradeConfig,
    Lookup,
    attach,
    grade_counters,
    grade_table,
    parse_bands,
    summary,
)

SUMMARY = "_summary.parquet"


@app.command(epilog="Example: distill grade runs/x/verified -o runs/x/graded --reference-model Qwen2.5-7B-Instruct")
def grade(
    input: Annotated[str, typer.Argument(help="Verified stage directory, Parquet file or glob.", show_default=False)],
    output: Output,
    bands: Annotated[str, typer.Option(
        help="Difficulty bands by pass rate: NAME=UPPER (rates up to UPPER) or NAME=<UPPER (below UPPER), "
             "ascending, the last ending at 1.")] = DEFAULT_BANDS,
    reference_model: Annotated[str | None, typer.Option(
        help="Grade every prompt by this model's pass rate (the student you will train); adds ref_pass_rate.",
        show_default=False)] = None,
    ignore_verdicts: Annotated[str, typer.Option(
        help="Verdicts left out of the pass rate (comma list); 'unverifiable' means the reference answer "
             "could not be read, which says nothing about the model.")] = "unverifiable",
    shard: Shard = None,
    limit: Limit = None,
    overwrite: Overwrite = False,
    workers: Workers = 1,
    quiet: Quiet = False,
    progress_interval: ProgressInterval = 30.0,
    rows_per_shard: RowsPerShard = 100_000,
) -> None:
    """Grade each prompt's difficulty per model by pass rate and coefficient of variation of verify scores."""
    opts = run_options(output, shard, limit, overwrite, workers, quiet, rows_per_shard, progress_interval)
    ignored = tuple(sorted({v.strip() for v in ignore_verdicts.split(",") if v.strip()}))
    unknown = [v for v in ignored if v not in VERDICTS]
    if unknown:
        raise BadInput(f"--ignore-verdicts {','.join(unknown)}: not a verdict; valid: {', '.join(VERDICTS)}")
    cfg = GradeConfig(parse_bands(bands), reference_model, ignored)
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
