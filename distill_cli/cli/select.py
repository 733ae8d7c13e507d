"""distill select: graded rows in, the traces worth training on out."""

from __future__ import annotations

from typing import Annotated

import typer

from distill_cli.cli import common
from distill_cli.cli.base import app
from distill_cli.cli.common import choice
from distill_cli.stages.select.config import (
    By,
    Prefer,
    SelectConfig,
    parse_distribution,
    parse_names,
    parse_window,
)

EPILOG = (
    "Examples: distill select runs/x/graded -o runs/x/selected --keep hard,medium --per-prompt 1 --prefer shortest"
    " | distill select runs/x/graded -o runs/x/mix --distribution hard=0.5,medium=0.3,easy=0.2 --total 10000"
    " --seed 1 | distill select runs/x/graded -o runs/x/dpo --pass-rate '(0:1)' --pairs"
)


# --prefer picks the traces --per-prompt and --pairs keep (--by also names the columns a run needs, so it stays)
READERS = {"prefer": ("--per-prompt", "--pairs")}


@app.command(epilog=EPILOG)
def select(
    ctx: typer.Context,
    input: Annotated[str, typer.Argument(help="Graded stage directory, Parquet file or glob.", show_default=False)],
    output: common.Output,
    by: Annotated[By, choice(By, "--by", help="How --total ranks prompts (hardest, hardest, most variable, "
                                    "longest, seeded random, most perplexing, most divergent first); perplexity "
                                    "and divergence also take --band/--quantile (columns from `distill score`).")]
    = "difficulty",
    band: Annotated[str | None, typer.Option(
        help="With --by perplexity|divergence: keep rows whose value is in LO:HI (edges as --pass-rate), e.g. "
             "1.2:3.", show_default=False)] = None,
    quantile: Annotated[str | None, typer.Option(
        help="With --by perplexity|divergence: keep rows whose quantile among the input's is in LO:HI, e.g. "
             "0.1:0.9 drops the lowest and highest tenth.", show_default=False)] = None,
    keep: Annotated[str | None, typer.Option(help="Difficulty bands to keep, e.g. hard,medium.",
                                                show_default=False)] = None,
    pass_rate: Annotated[str | None, typer.Option(
        help="Pass-rate window LO:HI, inclusive; brackets pick the edges: '(0:1)' excludes 0 and 1, "
             "'[0.1:0.9)'. Uses ref_pass_rate when grade had --reference-model.", show_default=False)] = None,
    max_cv: Annotated[float | None, typer.Option(help="Keep rows whose score_cv is at most this "
                                                    "(an undefined CV fails).", show_default=False)] = None,
    model: Annotated[str | None, typer.Option(help="Only traces of these models (comma list).",
                                                 show_default=False)] = None,
    domain: Annotated[str | None, typer.Option(help="Only these domains (comma list: math, code, ...).",
                                                  show_default=False)] = None,
    correct_only: Annotated[bool, typer.Option("--correct-only/--all",
                                               help="Keep only traces with verdict correct.")] = True,
    length_tokens: Annotated[str | None, typer.Option(help="completion_tokens window LO:HI (same edge "
                                                         "syntax as --pass-rate).", show_default=False)] = None,
    per_prompt: Annotated[int | None, typer.Option(min=1, help="Keep at most K traces per prompt, chosen by "
                                                      "--prefer.", show_default=False)] = None,
    prefer: Annotated[Prefer, choice(Prefer, "--prefer", help="Which traces --per-prompt and "
                                        "--pairs keep.")] = "shortest",
    distribution: Annotated[str | None, typer.Option(
        help="Sample prompts to this difficulty mix, e.g. hard=0.5,medium=0.3,easy=0.2 (weights normalized).",
        show_default=False)] = None,
    total: Annotated[int | None, typer.Option(min=0, help="Number of prompts to keep (the mix's size with "
                                                 "--distribution; else the top N by --by).",
                                                 show_default=False)] = None,
    seed: Annotated[int, typer.Option(help="Seed of every random choice.")] = 0,
    pairs: Annotated[bool, typer.Option(help="DPO pairs: per prompt and model one correct trace (chosen) and "
                                        "one incorrect (rejected); adds pair_id and pair_role.")] = False,
    shard: common.Shard = None,
    limit: common.Limit = None,
    overwrite: common.Overwrite = False,
    quiet: common.Quiet = False,
    progress_interval: common.ProgressInterval = 30.0,
    rows_per_shard: common.RowsPerShard = 100_000,
) -> None:
    """Select traces by difficulty, pass rate, CV or length; sample a difficulty mix; keep K per prompt or DPO pairs."""
    modes = ("--per-prompt",) * (per_prompt is not None) + ("--pairs",) * pairs
    common.refuse_unused(ctx, READERS, modes, "")
    opts = common.run_options(output, shard, limit, overwrite, 1, quiet, rows_per_shard, progress_interval)
    cfg = SelectConfig(
        by=by,
        keep=parse_names(keep),
        pass_rate=parse_window(pass_rate, "--pass-rate") if pass_rate is not None else None,
        max_cv=max_cv,
        models=parse_names(model),
        domains=parse_names(domain),
        correct_only=correct_only,
        length_tokens=parse_window(length_tokens, "--length-tokens") if length_tokens is not None else None,
        per_prompt=per_prompt,
        prefer=prefer,
        distribution=parse_distribution(distribution) if distribution is not None else None,
        total=total,
        seed=seed,
        pairs=pairs,
        band=parse_window(band, "--band") if band is not None else None,
        quantile=parse_window(quantile, "--quantile") if quantile is not None else None,
    )
    cfg.check()
    from distill_cli.stages.select.run import run

    run(input, cfg, opts)
