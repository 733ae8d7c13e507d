"""compress's glue: open the traces, compress each shard (a chunk of rows at a time, or through a rewriting
model whose finished rewrites are checkpointed), and print what was saved. Options: cli/compress.py."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import polars as pl

from distill_cli.engines.backends import LazyBackend, openai_backend, vllm_backend
from distill_cli.stagedir.directory import StageDir, merge_stats
from distill_cli.stagedir.inputs import open_input
from distill_cli.stagedir.messages import already_complete
from distill_cli.stagedir.runner import RunOptions, ShardTask, run_map
from distill_cli.stages.compress import CompressConfig, RewriteJob, RewriteOutcome, compress_frame

CHUNK_ROWS = 5_000  # traces compressed at a time within a shard (see _by_chunk)


@dataclass(frozen=True)
class RewriteEngine:
    """The rewriting model of `--strategy rewrite`, reached through one of generate's backends."""

    backend: str = "vllm"
    model: str | None = None
    base_url: str = "http://127.0.0.1:8000/v1"
    api_key: str | None = None
    concurrency: int = 32
    kv_cache_memory: int | None = None


def run(input: str, cfg: CompressConfig, opts: RunOptions, engine: RewriteEngine = RewriteEngine()) -> StageDir:
    """Compress the traces of `input` into `opts.out`; returns the stage directory."""
    output, quiet, workers, strategies = opts.out, opts.quiet, opts.workers, cfg.strategies
    all_rows, tokenizer, temperature = cfg.all_rows, cfg.tokenizer, cfg.rewrite.temperature
    backend, model, base_url, api_key, concurrency, kv_bytes = (
        engine.backend, engine.model, engine.base_url, engine.api_key, engine.concurrency, engine.kv_cache_memory)
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
    return sd


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
