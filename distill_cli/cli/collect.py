"""distill collect: datasets in, a prompts stage directory out."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from distill_cli.cli import common
from distill_cli.cli.base import app
from distill_cli.cli.common import choice
from distill_cli.stages.collect.config import AnswerFormat, CollectConfig, Domain


@app.command(epilog="Example: distill collect gsm8k_test.jsonl.gz 'snapshot/data/*.parquet' -o runs/x/prompts")
def collect(
    sources: Annotated[list[str], typer.Argument(
        help="Files (.jsonl/.json/.csv/.tsv, plain or .gz/.zst/.bz2; .parquet; .arrow), quoted globs of them, "
             "directories (hub snapshots, `datasets` save_to_disk output) or hf:NAME[:CONFIG].",
        show_default=False)],
    output: common.Output,
    prompt_field: Annotated[str | None, typer.Option(help="Column holding the prompt (auto: problem, "
                                                        "question, prompt, ...).")] = None,
    answer_field: Annotated[str | None, typer.Option(help="Column holding the answer or worked solution "
                                                        "(auto: answer, gt, solution, ...).")] = None,
    answer_format: Annotated[AnswerFormat, choice(AnswerFormat, "--answer-format", help="How to read the final "
                                                  "answer.")] = "auto",
    tests_field: Annotated[str | None, typer.Option(help="Column holding code tests (auto: test_list, "
                                                       "tests, input_output).")] = None,
    domain: Annotated[Domain, choice(Domain, "--domain")] = "auto",
    split: Annotated[str | None, typer.Option(help="Split of hf: datasets (default train), of a save_to_disk "
                                              "DatasetDict, or of a directory holding several.")] = None,
    streaming: Annotated[bool, typer.Option(help="Stream hf: datasets instead of caching them whole.")] = True,
    rejects: Annotated[Path | None, typer.Option(help="Write dropped rows and why to this .jsonl/.parquet.")] = None,
    max_prompt_chars: Annotated[int, typer.Option(min=1, help="Drop prompts longer than this (prompt_too_long).")
                                ] = 1_000_000,
    tests_in_prompt: Annotated[int, typer.Option(min=0, help="Code: append the first N assert tests to the prompt, "
                                                 "as MBPP poses its problems (the tests name the function).")] = 0,
    shard: common.Shard = None,
    limit: common.Limit = None,
    overwrite: common.Overwrite = False,
    quiet: common.Quiet = False,
    rows_per_shard: common.RowsPerShard = 100_000,
) -> None:
    """Collect prompts with reference answers from local files and Hugging Face datasets."""
    opts = common.run_options(output, shard, limit, overwrite, 1, quiet, rows_per_shard)
    cfg = CollectConfig(prompt_field, answer_field, answer_format, domain, tests_field, max_prompt_chars,
                        tests_in_prompt)
    from distill_cli.stages.collect.run import run

    run(sources, cfg, opts, split, streaming, rejects)
