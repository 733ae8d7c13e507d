"""distill compress: verified traces in, shorter traces that still verify out."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

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
    choice,
    refuse_unused,
    run_options,
)
from distill_cli.stages.compress.config import (
    STRATEGIES,
    CompressConfig,
    OnFail,
    RewriteConfig,
    check_rewrite_options,
    kv_size,
    load_template,
    parse_strategies,
    parse_targets,
)
from distill_cli.stages.generate.config import BackendName

CUTS, BUDGET, REWRITE = "Cuts", "max-tokens", "rewrite (a model through a generate backend)"
EXAMPLE = ("Example: distill compress runs/x/verified -o runs/x/compressed --strategy trim,dedupe-reflections "
           "--strategy max-tokens --budget 4096 --tokenizer ~/models/DeepSeek-R1-Distill-Qwen-7B")


# which strategies read each strategy-specific option (the others refuse it: issue 22)
READERS: dict[str, tuple[str, ...]] = {
    "allowance": ("trim",), "max_reflections": ("dedupe-reflections",), "near_threshold": ("dedupe-reflections",),
    "extra_steps": ("first-correct",), "budget": ("max-tokens",), "mark": ("max-tokens",),
    "tokenizer": ("max-tokens",), **{name: ("rewrite",) for name in (
        "backend", "model", "base_url", "api_key", "concurrency", "template", "targets", "rewrite_max_tokens",
        "temperature")},
}


@app.command(epilog=EXAMPLE)
def compress(
    ctx: typer.Context,
    input: Annotated[str, typer.Argument(help="Verified (or graded/selected) traces: stage directory, Parquet "
                                         "file or glob.", show_default=False)],
    output: Output,
    strategy: Annotated[list[str], typer.Option(
        "--strategy", "-s", help=f"{'|'.join(STRATEGIES)}; repeat or comma-separate, applied in that order.",
        show_default=False)],
    on_fail: Annotated[OnFail, choice(OnFail, "--on-fail", help="What to do with a cut that no longer "
                                           "verifies.")
                       ] = "revert",
    all_rows: Annotated[bool, typer.Option("--all", help="Compress every row, not only verdict == correct.")
                        ] = False,
    reverify: Annotated[bool, typer.Option(help="Re-verify every cut (the reasoning's conclusion against the "
                                           "reference answer).")] = True,
    allowance: Annotated[int, typer.Option(min=0, help="trim: paragraphs kept after the final answer's "
                                           "settled statement.", rich_help_panel=CUTS)] = 1,
    max_reflections: Annotated[int, typer.Option(min=0, help="dedupe-reflections: reflection episodes kept per "
                                                 "loop.", rich_help_panel=CUTS)] = 2,
    near_threshold: Annotated[float, typer.Option(min=0.01, max=1.0, help="dedupe-reflections: shingle Jaccard "
                                                  "from which paragraphs are repeats.", rich_help_panel=CUTS)] = 0.9,
    extra_steps: Annotated[int, typer.Option(min=0, help="first-correct: paragraphs kept after the first "
                                             "correct one.", rich_help_panel=CUTS)] = 0,
    budget: Annotated[int | None, typer.Option(min=1, help="Token budget per completion.",
                                                  rich_help_panel=BUDGET)] = None,
    mark: Annotated[bool, typer.Option(help="Keep over-budget traces, flagged in over_budget.",
                                       rich_help_panel=BUDGET)] = False,
    tokenizer: Annotated[str | None, typer.Option(help="Local tokenizer/model directory (default: an "
                                                     "estimate, see docs).", rich_help_panel=BUDGET)] = None,
    backend: Annotated[BackendName, choice(BackendName, "--backend", rich_help_panel=REWRITE)] = "vllm",
    model: Annotated[str | None, typer.Option("--model", "-m", help="Rewriting model ('tiny' = bundled).",
                                                 rich_help_panel=REWRITE)] = None,
    base_url: Annotated[str, typer.Option(help="openai: server URL.", rich_help_panel=REWRITE)
                        ] = "http://127.0.0.1:8000/v1",
    api_key: Annotated[str | None, typer.Option(envvar="OPENAI_API_KEY", show_default=False,
                                                   help="openai: API key.", rich_help_panel=REWRITE)] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="openai: requests in flight.", rich_help_panel=REWRITE)
                           ] = 32,
    template: Annotated[Path | None, typer.Option(help="Prompt template with {problem} {reasoning} {answer} "
                                                  "{difficulty} {target_length} [default: the built-in "
                                                  "distill_cli/templates/rewrite.txt].", rich_help_panel=REWRITE)
                        ] = None,
    targets: Annotated[str | None, typer.Option(help="Target share of the original length per difficulty, "
                                                   "e.g. easy=0.3,hard=0.7.", rich_help_panel=REWRITE)] = None,
    rewrite_max_tokens: Annotated[int, typer.Option(min=16, help="Token limit of one rewrite.",
                                                    rich_help_panel=REWRITE)] = 4096,
    temperature: Annotated[float, typer.Option(min=0.0, rich_help_panel=REWRITE)] = 0.3,
    kv_cache_memory: Annotated[str | None, typer.Option(
        "--kv-cache-memory", help="vllm: KV-cache size (1GiB, 512MiB, bytes); default on CPU: sized by distill, "
        "as in generate.", show_default=False, rich_help_panel=REWRITE)] = None,
    shard: Shard = None,
    limit: Limit = None,
    overwrite: Overwrite = False,
    workers: Workers = 1,
    quiet: Quiet = False,
    progress_interval: ProgressInterval = 30.0,
    rows_per_shard: RowsPerShard = 100_000,
) -> None:
    """Shorten correct traces (trim, dedupe-reflections, first-correct, max-tokens, rewrite) and re-verify them."""
    strategies = parse_strategies(strategy)
    refuse_unused(ctx, READERS, strategies, "--strategy")
    rewrite = RewriteConfig(template=load_template(template) if "rewrite" in strategies else "",
                            targets=parse_targets(targets), max_tokens=rewrite_max_tokens, temperature=temperature)
    cfg = CompressConfig(strategies=strategies, allowance=allowance, max_reflections=max_reflections,
                         near_threshold=near_threshold, extra_steps=extra_steps, budget=budget, mark=mark,
                         tokenizer=tokenizer, on_fail=on_fail, all_rows=all_rows, reverify=reverify,
                         rewrite=rewrite)
    if "rewrite" in strategies:
        check_rewrite_options(backend, model)
    kv_bytes = kv_size(kv_cache_memory)
    opts = run_options(output, shard, limit, overwrite, workers, quiet, rows_per_shard, progress_interval)
    from distill_cli.stages.compress.run import RewriteEngine, run

    run(input, cfg, opts, RewriteEngine(backend, model, base_url, api_key, concurrency, kv_bytes))
