"""distill grade: verified rows in, the same rows with pass rate, CV and difficulty out."""

from __future__ import annotations

from typing import Annotated

import typer

from distill_cli.cli import common
from distill_cli.cli.base import app
from distill_cli.stages.grade.config import DEFAULT_BANDS


@app.command(epilog="Example: distill grade runs/x/verified -o runs/x/graded --reference-model Qwen2.5-7B-Instruct")
def grade(
    input: Annotated[str, typer.Argument(help="Verified stage directory, Parquet file or glob.", show_default=False)],
    output: common.Output,
    bands: Annotated[str, typer.Option(
        help="Difficulty bands by pass rate: NAME=UPPER (rates up to UPPER) or NAME=<UPPER (below UPPER), "
             "ascending, the last ending at 1.")] = DEFAULT_BANDS,
    reference_model: Annotated[str | None, typer.Option(
        help="Grade every prompt by this model's pass rate (the student you will train); adds ref_pass_rate.",
        show_default=False)] = None,
    ignore_verdicts: Annotated[str, typer.Option(
        help="Verdicts left out of the pass rate (comma list); 'unverifiable' means the reference answer "
             "could not be read, which says nothing about the model.")] = "unverifiable",
    shard: common.Shard = None,
    limit: common.Limit = None,
    overwrite: common.Overwrite = False,
    workers: common.Workers = 1,
    quiet: common.Quiet = False,
    progress_interval: common.ProgressInterval = 30.0,
    rows_per_shard: common.RowsPerShard = 100_000,
) -> None:
    """Grade each prompt's difficulty per model by pass rate and coefficient of variation of verify scores."""
    from distill_cli.stages.grade.config import GradeConfig, parse_bands, parse_ignored
    from distill_cli.stages.grade.run import run

    opts = common.run_options(output, shard, limit, overwrite, workers, quiet, rows_per_shard, progress_interval)
    ignored = parse_ignored(ignore_verdicts)
    run(input, GradeConfig(parse_bands(bands), reference_model, ignored), opts)
