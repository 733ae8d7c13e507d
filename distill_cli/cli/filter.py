"""distill filter: drop traces with defects that verification cannot see; list every dropped row and why."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from distill_cli.cli import common
from distill_cli.cli.base import app
from distill_cli.cli.common import choice, opt
from distill_cli.stages.filter.config import Think

EXAMPLE = ("Example: distill filter runs/x/verified -o runs/x/filtered --max-repeated-share 0.1 "
           "--max-foreign-language off --refusal-pattern 'as of my last update'")
REP, LANG, ANS, REF = "Repetition", "Language mixing", "Answers", "Refusals and meta-text"
Threshold = "X|off"


@app.command("filter", epilog=EXAMPLE)
def filter_(
    input: Annotated[str, typer.Argument(help="Traces (generate's output or later): stage directory, Parquet file "
                                         "or glob.", show_default=False)],
    output: common.Output,
    truncated: Annotated[bool, typer.Option(help="Drop traces cut at the token limit (finish_reason length).")
                         ] = True,
    think: Annotated[Think, choice(Think, "--think", help="Drop an unclosed <think> block, and a trace without "
                                   "reasoning from a model that thinks (auto: most of its rows do).")] = "auto",
    empty_answer: Annotated[bool, typer.Option(help="Drop traces with an empty response.")] = True,
    ngram: Annotated[int, opt(REP, min=2, help="Words per n-gram of the repetition checks.")] = 20,
    max_repeated_share: Annotated[str, opt(REP, metavar=Threshold, help="Drop a trace when more than this share of "
                                           "its word n-grams repeat an earlier one.")] = "0.2",
    max_repeated_span: Annotated[str, opt(REP, metavar="WORDS|off", help="Drop a trace whose longest repeated run "
                                          "of words is longer than this.")] = "400",
    max_foreign_script: Annotated[str, opt(LANG, metavar=Threshold, help="Drop a trace when more than this share "
                                           "of its reasoning's letters are in a script its prompt does not use.")
                                  ] = "0.02",
    max_foreign_language: Annotated[str, opt(LANG, metavar=Threshold, help="Drop a trace when more than this "
                                             "share of sampled reasoning windows are in another language than the "
                                             "prompt (offline fastText identifier).")] = "0.34",
    language_windows: Annotated[int, opt(LANG, min=1, help="Reasoning windows identified per trace.")] = 6,
    answers_disagree: Annotated[bool, opt(ANS, help="Drop a response whose \\boxed{} answers disagree.")] = True,
    answer_unsupported: Annotated[bool, opt(ANS, help="Drop a trace whose boxed answer never appears in its "
                                            "reasoning.")] = True,
    refusal_pattern: Annotated[list[str] | None, opt(REF, "--refusal-pattern", metavar="REGEX", help="Also drop "
                                                     "traces matching this case-insensitive regex (repeatable).",
                                                     show_default=False)] = None,
    refusal_file: Annotated[Path | None, opt(REF, help="A file of more refusal regexes, one per line.")] = None,
    default_refusals: Annotated[bool, opt(REF, help="Use the built-in refusal phrases ('as an AI', 'I cannot help "
                                          "with that', ...).")] = True,
    max_perplexity: Annotated[float | None, typer.Option(min=0.0, help="Drop traces above this perplexity.")] = None,
    min_perplexity: Annotated[float | None, typer.Option(min=0.0, help="Drop traces below this perplexity.")] = None,
    perplexity_column: Annotated[str, typer.Option(help="Column holding each trace's perplexity.")] = "perplexity",
    shard: common.Shard = None,
    limit: common.Limit = None,
    overwrite: common.Overwrite = False,
    quiet: common.Quiet = False,
    progress_interval: common.ProgressInterval = 30.0,
    rows_per_shard: common.RowsPerShard = 20_000,  # traces are long: a shard is held in memory about twice
) -> None:
    """Drop truncated, unclosed, looping, language-switching, self-contradicting and refusing traces."""
    from distill_cli.stages.filter.config import filter_config
    from distill_cli.stages.filter.run import run

    cfg = filter_config(truncated, think, empty_answer, ngram, max_repeated_share, max_repeated_span,
                        max_foreign_script, max_foreign_language, language_windows, answers_disagree,
                        answer_unsupported, refusal_pattern or [], refusal_file, default_refusals, max_perplexity,
                        min_perplexity, perplexity_column)
    run(input, cfg, common.run_options(output, shard, limit, overwrite, 1, quiet, rows_per_shard, progress_interval))
