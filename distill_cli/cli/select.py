"""distill select: graded rows in, the traces worth training on out."""

from __future__ import annotations

from typing import Annotated

import typer

from distill_cli.cli import common
from distill_cli.cli.base import app
from distill_cli.cli.common import choice
from distill_cli.stages.select.config import READERS, By, Prefer

EPILOG = (
    "Examples: distill select runs/x/graded -o runs/x/selected --keep hard,medium --per-prompt 1 --prefer shortest"
    " | distill select runs/x/graded -o runs/x/mix --distribution hard=0.5,medium=0.3,easy=0.2 --total 10000"
    " --seed 1 | distill select runs/x/graded -o runs/x/dpo --pass-rate '(0:1)' --pairs"
)


@app.command(epilog=EPILOG)
def select(
    ctx: typer.Context,
    input: Annotated[str, typer.Argument(help="Graded stage directory, Parquet file or glob.", show_default=False)],
    output: common.Output,
    by: Annotated[By, choice(By, "--by", help="How --total ranks prompts (hardest, hardest, most variable, longest, "
                             "seeded random, most perplexing, most divergent first); perplexity and divergence also "
                             "take --band/--quantile (columns from `distill score`).")] = "difficulty",
    band: Annotated[str | None, typer.Option(help="With --by perplexity|divergence: keep rows whose value is in "
                                             "LO:HI (edges as --pass-rate), e.g. 1.2:3.")] = None,
    quantile: Annotated[str | None, typer.Option(help="With --by perplexity|divergence: keep rows whose quantile "
                                                 "among the input's is in LO:HI, e.g. 0.1:0.9 drops the lowest and "
                                                 "highest tenth.")] = None,
    keep: Annotated[str | None, typer.Option(help="Difficulty bands to keep, e.g. hard,medium.")] = None,
    pass_rate: Annotated[str | None, typer.Option(help="Pass-rate window LO:HI, inclusive; brackets pick the edges: "
                                                  "'(0:1)' excludes 0 and 1, '[0.1:0.9)'. Uses ref_pass_rate when "
                                                  "grade had --reference-model.")] = None,
    max_cv: Annotated[float | None, typer.Option(help="Keep rows whose score_cv is at most this (an undefined CV "
                                                 "fails).")] = None,
    model: Annotated[str | None, typer.Option(help="Only traces of these models (comma list).")] = None,
    domain: Annotated[str | None, typer.Option(help="Only these domains (comma list: math, code, ...).")] = None,
    correct_only: Annotated[bool, typer.Option("--correct-only/--all", help="Keep only traces with verdict "
                                               "correct.")] = True,
    length_tokens: Annotated[str | None, typer.Option(help="completion_tokens window LO:HI (same edge syntax as "
                                                      "--pass-rate).")] = None,
    per_prompt: Annotated[int | None, typer.Option(min=1, help="Keep at most K traces per prompt, chosen by "
                                                   "--prefer.")] = None,
    prefer: Annotated[Prefer, choice(Prefer, "--prefer", help="Which traces --per-prompt and --pairs keep.")
                      ] = "shortest",
    distribution: Annotated[str | None, typer.Option(help="Sample prompts to this difficulty mix, e.g. "
                                                     "hard=0.5,medium=0.3,easy=0.2 (weights normalized).")] = None,
    total: Annotated[int | None, typer.Option(min=0, help="Number of prompts to keep (the mix's size with "
                                              "--distribution; else the top N by --by).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of every random choice.")] = 0,
    pairs: Annotated[bool, typer.Option(help="DPO pairs: per prompt and model one correct trace (chosen) and one "
                                        "incorrect (rejected); adds pair_id and pair_role.")] = False,
    shard: common.Shard = None,
    limit: common.Limit = None,
    overwrite: common.Overwrite = False,
    quiet: common.Quiet = False,
    progress_interval: common.ProgressInterval = 30.0,
    rows_per_shard: common.RowsPerShard = 100_000,
) -> None:
    """Select traces by difficulty, pass rate, CV or length; sample a difficulty mix; keep K per prompt or DPO pairs."""
    from distill_cli.stages.select.config import select_config
    from distill_cli.stages.select.run import run

    common.refuse_unused(ctx, READERS, ("--per-prompt",) * (per_prompt is not None) + ("--pairs",) * pairs, "")
    opts = common.run_options(output, shard, limit, overwrite, 1, quiet, rows_per_shard, progress_interval)
    run(input, select_config(by, band, quantile, keep, pass_rate, max_cv, model, domain, correct_only, length_tokens,
                             per_prompt, prefer, distribution, total, seed, pairs), opts)
