"""distill compress: verified traces in, shorter traces that still verify out."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from distill_cli.cli import common
from distill_cli.cli.base import app
from distill_cli.cli.common import choice, opt
from distill_cli.stages.compress.config import READERS, STRATEGIES, OnFail
from distill_cli.stages.generate.config import BackendName

CUTS, BUDGET, REWRITE = "Cuts", "max-tokens", "rewrite (a model through a generate backend)"
EXAMPLE = ("Example: distill compress runs/x/verified -o runs/x/compressed --strategy trim,dedupe-reflections "
           "--strategy max-tokens --budget 4096 --tokenizer ~/models/DeepSeek-R1-Distill-Qwen-7B")


@app.command(epilog=EXAMPLE)
def compress(
    ctx: typer.Context,
    input: Annotated[str, typer.Argument(help="Verified (or graded/selected) traces: stage directory, Parquet "
                                         "file or glob.", show_default=False)],
    output: common.Output,
    strategy: Annotated[list[str], typer.Option("--strategy", "-s", show_default=False, help=f"{'|'.join(STRATEGIES)}"
                                                "; repeat or comma-separate, applied in that order.")],
    on_fail: Annotated[OnFail, choice(OnFail, "--on-fail", help="What to do with a cut that no longer "
                                      "verifies.")] = "revert",
    all_rows: Annotated[bool, typer.Option("--all", help="Compress every row, not only verdict == correct.")] = False,
    reverify: Annotated[bool, typer.Option(help="Re-verify every cut (the reasoning's conclusion against the "
                                           "reference answer).")] = True,
    allowance: Annotated[int, opt(CUTS, min=0, help="trim: paragraphs kept after the final answer's settled "
                                  "statement.")] = 1,
    max_reflections: Annotated[int, opt(CUTS, min=0, help="dedupe-reflections: reflection episodes kept per "
                                        "loop.")] = 2,
    near_threshold: Annotated[float, opt(CUTS, min=0.01, max=1.0, help="dedupe-reflections: shingle Jaccard from "
                                         "which paragraphs are repeats.")] = 0.9,
    extra_steps: Annotated[int, opt(CUTS, min=0, help="first-correct: paragraphs kept after the first correct "
                                    "one.")] = 0,
    budget: Annotated[int | None, opt(BUDGET, min=1, help="Token budget per completion.")] = None,
    mark: Annotated[bool, opt(BUDGET, help="Keep over-budget traces, flagged in over_budget.")] = False,
    tokenizer: Annotated[str | None, opt(BUDGET, help="Local tokenizer/model directory (default: an estimate, see "
                                         "docs).")] = None,
    backend: Annotated[BackendName, choice(BackendName, "--backend", rich_help_panel=REWRITE)] = "vllm",
    model: Annotated[str | None, opt(REWRITE, "--model", "-m", help="Rewriting model ('tiny' = bundled).")] = None,
    base_url: Annotated[str, opt(REWRITE, help="openai: server URL.")] = "http://127.0.0.1:8000/v1",
    api_key: Annotated[str | None, opt(REWRITE, envvar="OPENAI_API_KEY", show_default=False,
                                        help="openai: API key.")] = None,
    concurrency: Annotated[int, opt(REWRITE, min=1, help="openai: requests in flight.")] = 32,
    template: Annotated[Path | None, opt(REWRITE, help="Prompt template with {problem} {reasoning} {answer} "
                                         "{difficulty} {target_length} \\[default: the built-in "
                                          "distill_cli/templates/rewrite.txt].")] = None,
    targets: Annotated[str | None, opt(REWRITE, help="Target share of the original length per difficulty, e.g. "
                                       "easy=0.3,hard=0.7.")] = None,
    rewrite_max_tokens: Annotated[int, opt(REWRITE, min=16, help="Token limit of one rewrite.")] = 4096,
    temperature: Annotated[float, opt(REWRITE, min=0.0)] = 0.3,
    kv_cache_memory: Annotated[str | None, opt(REWRITE, "--kv-cache-memory", show_default=False,
                                                help="vllm: KV-cache size (1GiB, 512MiB, bytes); default on CPU: "
                                                "sized by distill, as in generate.")] = None,
    shard: common.Shard = None,
    limit: common.Limit = None,
    overwrite: common.Overwrite = False,
    workers: common.Workers = 1,
    quiet: common.Quiet = False,
    progress_interval: common.ProgressInterval = 30.0,
    rows_per_shard: common.RowsPerShard = 100_000,
) -> None:
    """Shorten correct traces (trim, dedupe-reflections, first-correct, max-tokens, rewrite) and re-verify them."""
    from distill_cli.engines.memory import parse_size
    from distill_cli.stages.compress.config import compress_config, parse_strategies
    from distill_cli.stages.compress.run import RewriteEngine, run

    strategies = parse_strategies(strategy)
    common.refuse_unused(ctx, READERS, strategies, "--strategy")
    cfg = compress_config(strategies, on_fail, all_rows, reverify, allowance, max_reflections, near_threshold,
                          extra_steps, budget, mark, tokenizer, backend, model, template, targets, rewrite_max_tokens,
                          temperature)
    kv_bytes = None if kv_cache_memory is None else parse_size(kv_cache_memory)
    opts = common.run_options(output, shard, limit, overwrite, workers, quiet, rows_per_shard, progress_interval)
    run(input, cfg, opts, RewriteEngine(backend, model, base_url, api_key, concurrency, kv_bytes))
