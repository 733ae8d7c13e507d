"""distill compress: verified traces in, shorter traces that still verify out."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import asdict
from functools import partial
from pathlib import Path
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
    refuse_unused,
    run_options,
)
from distill_cli.engines.backends import LazyBackend, openai_backend, vllm_backend
from distill_cli.errors import BadInput
from distill_cli.stagedir.directory import merge_stats
from distill_cli.stagedir.inputs import open_input
from distill_cli.stagedir.runner import ShardTask, run_map
from distill_cli.stages.compress import (
    STRATEGIES,
    CompressConfig,
    RewriteConfig,
    RewriteJob,
    RewriteOutcome,
    compress_frame,
    parse_strategies,
    parse_targets,
)

CUTS, BUDGET, REWRITE = "Cuts", "max-tokens", "rewrite (a model through a generate backend)"
CHUNK_ROWS = 5_000  # traces compressed at a time within a shard (see _by_chunk)
DEFAULT_TEMPLATE = Path(__file__).resolve().parents[1] / "templates" / "rewrite.txt"  # shipped in the wheel
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
    on_fail: Annotated[str, typer.Option(help="revert|drop: what to do with a cut that no longer verifies.")
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
    backend: Annotated[str, typer.Option(help="vllm|openai.", rich_help_panel=REWRITE)] = "vllm",
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
    rewrite = RewriteConfig(template=_template(template) if "rewrite" in strategies else "",
                            targets=parse_targets(targets), max_tokens=rewrite_max_tokens, temperature=temperature)
    cfg = CompressConfig(strategies=strategies, allowance=allowance, max_reflections=max_reflections,  # type: ignore
                         near_threshold=near_threshold, extra_steps=extra_steps, budget=budget, mark=mark,
                         tokenizer=tokenizer, on_fail=on_fail, all_rows=all_rows, reverify=reverify,  # type: ignore
                         rewrite=rewrite)
    if "rewrite" in strategies:
        _check_rewrite_options(backend, model)
    kv_bytes = _kv_size(kv_cache_memory)
    opts = run_options(output, shard, limit, overwrite, workers, quiet, rows_per_shard, progress_interval)
    inp = open_input(input)
    needed = {"reasoning": pl.String, "response": pl.String, "answer": pl.String, "domain": pl.String}
    needed |= {} if all_rows else {"verdict": pl.String}
    needed |= {"prompt": pl.String} if "rewrite" in strategies else {}
    inp.require("compress", needed)
    if tokenizer and "max-tokens" in strategies:
        from distill_cli.stages.compress.budget import load_tokenizer

        load_tokenizer(str(Path(tokenizer).expanduser()))  # a bad directory fails now, not after a shard
    params = {"compress": _params(cfg, backend, model)}
    equal = _equal(workers)
    rewriting = LazyBackend(partial(_backend, backend, model, base_url, api_key, concurrency, quiet, kv_bytes))
    summary: list[dict] = []

    def process(df: pl.DataFrame, task: ShardTask) -> tuple[pl.DataFrame, dict]:
        if "rewrite" in strategies:  # one rewriter per shard: its requests are checkpointed per shard
            out, stats = compress_frame(df, cfg, equal=equal, rewriter=_rewriter(task, rewriting.get, temperature))
        else:
            out, stats = _by_chunk(df, cfg, equal)
        task.progress.advance(df.height)
        summary.append(stats)
        return out, stats

    try:
        with equal:
            sd = run_map("compress", inp, opts, params=params, process=process)
    finally:
        rewriting.close()
    if not quiet and not already_complete("compress", sd, output, quiet):
        _print_summary(summary, output)


def _by_chunk(df: pl.DataFrame, cfg: CompressConfig, equal) -> tuple[pl.DataFrame, dict]:
    """compress_frame over CHUNK_ROWS rows at a time: the core works on Python strings (several copies of every
    trace), which for a shard of 50k traces of 8 KB held 6.4 GB; a chunk's copies are freed before the next.
    Every counter in its stats is a sum over rows, so the chunks' stats add up to the shard's."""
    outs, stats = [], {}
    for start in range(0, max(df.height, 1), CHUNK_ROWS):
        out, part = compress_frame(df.slice(start, CHUNK_ROWS), cfg, equal=equal)
        outs.append(out)
        merge_stats(stats, part)
    return pl.concat(outs), stats


def _template(path: Path | None) -> str:
    path = DEFAULT_TEMPLATE if path is None else path.expanduser()
    if not path.is_file():
        raise BadInput(f"--template {path}: no such file")
    text = path.read_text(encoding="utf-8")
    if "{reasoning}" not in text:
        raise BadInput(f"--template {path}: it must contain the {{reasoning}} placeholder")
    return text


def _check_rewrite_options(backend: str, model: str | None) -> None:
    if backend not in ("vllm", "openai"):
        raise BadInput(f"--backend {backend!r}: expected vllm or openai")
    if not model:
        raise BadInput("--strategy rewrite needs --model (the rewriting model)")
    if backend == "vllm":
        from distill_cli.cli.generate import check_model_path

        check_model_path(model)


def _params(cfg: CompressConfig, backend: str, model: str | None) -> dict:
    """What changes the output: the template by its hash (its text is in the file), the rewriting model."""
    params = asdict(cfg)
    text = params["rewrite"].pop("template")
    params["rewrite"]["template_sha256"] = hashlib.sha256(text.encode()).hexdigest()[:16] if text else None
    if "rewrite" in cfg.strategies:
        params["rewrite"] |= {"backend": backend, "model": model}
    return params


def _equal(workers: int):
    from distill_cli.stages.compress.check import VerifierEqual
    from distill_cli.stages.verify.core import VerifyConfig

    return VerifierEqual(VerifyConfig(workers=workers))


def _kv_size(text: str | None) -> int | None:
    from distill_cli.engines.memory import parse_size

    return None if text is None else parse_size(text)


def _backend(backend: str, model: str | None, base_url: str, api_key: str | None, concurrency: int, quiet: bool,
             kv_cache_memory: int | None = None):
    """The rewriting backend, built as generate builds its own (on CPU its KV cache is sized the same way)."""
    if backend == "vllm":
        return vllm_backend(model or "", quiet=quiet, kv_cache_memory=kv_cache_memory)
    return openai_backend(model or "", base_url, api_key, concurrency)


def _rewriter(task: ShardTask, get_backend: Callable, temperature: float, flush_every: int = 32):
    """Run rewrite jobs through the backend, saving every finished rewrite in the shard's checkpoint, so a killed
    run resumes without paying for a rewrite twice."""
    from distill_cli.engines.types import Request, Sampling

    def run(jobs: list[RewriteJob]) -> dict[str, RewriteOutcome]:
        saved = task.checkpoint.load()
        done = {} if saved is None else {k: RewriteOutcome(t, e) for k, t, e in
                                         saved.select("key", "text", "error").iter_rows()}
        todo = [j for j in jobs if j.key not in done]
        pending: list[tuple[str, str | None, str | None]] = []

        def flush() -> None:
            if pending:
                task.checkpoint.append(pl.DataFrame(pending, schema={"key": pl.String, "text": pl.String,
                                                                     "error": pl.String}, orient="row"))
                pending.clear()

        def on_result(result) -> None:
            error = result.error or ("length" if result.finish_reason == "length" else None)
            done[result.request.key] = RewriteOutcome(None if result.error else result.text, error)
            pending.append((result.request.key, done[result.request.key].text, error))
            task.progress.advance(0, note=f"rewrites {len(done)}/{len(jobs)}")
            if len(pending) >= flush_every:
                flush()

        if todo:
            requests = [Request(j.key, j.id, j.sample, ({"role": "user", "content": j.prompt},),
                                Sampling(temperature=temperature, top_p=0.95, max_tokens=j.max_tokens))
                        for j in todo]
            try:
                get_backend().generate(requests, on_result)
            finally:
                flush()
        return done

    return run


def _print_summary(stats: list[dict], output: Path) -> None:
    from distill_cli.progress import console
    from distill_cli.stagedir.directory import merge_stats

    total: dict = {}
    for s in stats:
        merge_stats(total, {k: v for k, v in s.items() if k != "token_counter"})
    before, after = total.get("chars_before", 0), total.get("chars_after", 0)
    saved = f"{100 * (1 - after / before):.1f}% fewer reasoning chars" if before else "nothing to compress"
    spacing = total.get("whitespace_only", 0)
    spacing = f" ({spacing} differed only in whitespace: left as they were)" if spacing else ""
    console.print(f"compress: {total.get('shortened', 0)} of {total.get('eligible', 0)} eligible traces "
                  f"shortened{spacing}, {saved}; reverted {sum((total.get('reverted') or {}).values())}, dropped "
                  f"{total.get('dropped') or 'none'}, passed through {total.get('passthrough') or 'none'} "
                  f"-> {output}")
