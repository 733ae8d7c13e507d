"""Glue of a plan: read the prompts, count their tokens, run the pilot, print the table. Writes no stage output.

`generate --dry-run` builds one `Estimate` and prints it; `distill plan` runs each generate step of a pipeline as
`generate --dry-run` in this process inside `collecting()`, then prints every estimate in one table.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import polars as pl

from distill_cli.engines.pricing import Priced
from distill_cli.engines.types import Backend, Result
from distill_cli.stages.generate.core import GenerateConfig, build_requests
from distill_cli.stages.plan.core import Estimate, Pilot, completion_estimate, estimate_chars, fmt_seconds, fmt_usd

_collector: list[Estimate] | None = None


@contextmanager
def collecting() -> Iterator[list[Estimate]]:
    """While open, `emit` keeps estimates for the caller instead of printing them."""
    global _collector
    saved, _collector = _collector, []
    try:
        yield _collector
    finally:
        _collector = saved


def emit(est: Estimate) -> None:
    if _collector is not None:
        _collector.append(est)
        return
    from distill_cli.progress import make_console

    console = make_console()  # the plan is the command's output: stdout
    print_plan([est], console)
    console.print("dry run: nothing was written")


def read_prompts(inp, limit: int | None, only: set[str] | None) -> pl.DataFrame:
    df = inp.scan(limit).select("id", "prompt").collect()
    return df if only is None else df.filter(pl.col("id").is_in(list(only)))


def count_prompt_tokens(conversations: list[list[dict]], cfg: GenerateConfig) -> tuple[int, str]:
    """Prompt tokens of one sample per prompt, rendered by the model's chat template when its tokenizer is here."""
    tok, where = _tokenizer(cfg)
    if tok is not None and conversations:
        try:
            texts = tok.apply_chat_template(conversations, tokenize=False, add_generation_prompt=True,
                                            **cfg.chat_template_kwargs)
            ids = tok(list(texts), add_special_tokens=False)["input_ids"]
            return sum(len(i) for i in ids), f"counted with {where}'s tokenizer and chat template"
        except Exception as exc:  # a template that needs other kwargs: fall back, and say so
            return _by_chars(conversations), f"estimated (characters / 4): the tokenizer failed: {str(exc)[:80]}"
    return _by_chars(conversations), f"estimated (characters / 4): no local tokenizer for {cfg.model}"


def _by_chars(conversations: list[list[dict]]) -> int:
    return estimate_chars([m["content"] for conv in conversations for m in conv])


def _tokenizer(cfg: GenerateConfig):
    """The model's tokenizer from a local directory or the Hugging Face cache (a served model's name may be a hub
    name); never fetched, and transformers is not even imported when there is nothing to load."""
    from distill_cli.model import resolve_model

    name = resolve_model(cfg.model) if cfg.backend == "vllm" else cfg.model
    if not _tokenizer_here(name):
        return None, None
    try:
        from transformers import AutoTokenizer

        shown = Path(name).name if Path(name).is_dir() else name
        return AutoTokenizer.from_pretrained(name, local_files_only=True), shown
    except Exception:  # no transformers, or files it cannot read: estimate instead
        return None, None


def _tokenizer_here(name: str) -> bool:
    if Path(name).expanduser().is_dir():
        return (Path(name).expanduser() / "tokenizer_config.json").exists()
    if name.count("/") != 1:  # not an ORG/NAME hub id (gpt-4o, a served alias)
        return False
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    return isinstance(try_to_load_from_cache(name, "tokenizer_config.json"), str)


def run_pilot(prompts: pl.DataFrame, cfg: GenerateConfig, make_backend: Callable[[], Backend], n: int) -> Pilot:
    """n real requests (sample 0 of the first n prompts) through the chosen backend; results are not kept."""
    from dataclasses import replace

    requests = build_requests(prompts.head(n), replace(cfg, n=1))
    started = time.perf_counter()
    backend = make_backend()
    try:
        if hasattr(backend, "check"):
            backend.check()
        ready = time.perf_counter()
        results: list[tuple[Result, float]] = []
        backend.generate(requests, lambda r: results.append((r, time.perf_counter() - ready)))
    finally:
        backend.close()
    ok = [(r, t) for r, t in results if r.error is None]
    return Pilot(tuple(r.completion_tokens for r, _ in ok), tuple(t for _, t in ok), ready - started,
                 prompt_tokens=sum(r.prompt_tokens for r, _ in ok),
                 cached_tokens=sum(r.cached_tokens or 0 for r, _ in ok), errors=len(results) - len(ok))


def plan_generate(name: str, inp, cfg: GenerateConfig, make_backend: Callable[[], Backend], priced: Priced,
                  pilot: int, mean: float | None, limit: int | None, concurrency: int,
                  only: set[str] | None = None) -> Estimate:
    """The estimate of one generate run; a hosted model without a price stops here, before the pilot pays."""
    from distill_cli.engines.render import render_messages

    if not priced.local:
        priced.require("plan")
    prompts = read_prompts(inp, limit, only)
    conversations = [list(render_messages(p, cfg.system_prompt, cfg.prompt_template)) for p in prompts["prompt"]]
    tokens, how = count_prompt_tokens(conversations, cfg)
    ran = run_pilot(prompts, cfg, make_backend, pilot) if pilot and prompts.height else None
    mean_tokens, completion_how = completion_estimate(ran, mean, cfg.sampling.max_tokens)
    return Estimate(name, cfg.model_name, cfg.backend, prompts.height, cfg.n, cfg.sampling.max_tokens, tokens, how,
                    priced, concurrency, mean_tokens, completion_how, ran)


def print_plan(estimates: list[Estimate], console) -> None:
    from rich.table import Table

    table = Table(title="plan (estimates before anything is spent)", title_justify="left")
    for col in ("stage", "model (backend)", "prompts x n", "requests", "prompt tok", "completion tok", "cost",
                "wall time"):
        # fold, never cut: in a narrow terminal a model name or a count wraps inside its cell instead of "comple…"
        table.add_column(col, justify="left" if col in ("stage", "model (backend)") else "right", overflow="fold")
    for e in estimates:
        secs, _ = e.wall()
        table.add_row(e.name, f"{e.model} ({e.backend})", f"{e.prompts} x {e.n}", str(e.requests),
                      f"{e.total_prompt_tokens:,}", f"{e.total_completion_tokens:,}",
                      "$0 (local)" if e.priced.local and e.priced.price is None else fmt_usd(e.cost),
                      fmt_seconds(secs))
    if len(estimates) > 1:
        costs = [e.cost for e in estimates]
        walls = [e.wall()[0] for e in estimates]
        table.add_row("total", "", "", str(sum(e.requests for e in estimates)),
                      f"{sum(e.total_prompt_tokens for e in estimates):,}",
                      f"{sum(e.total_completion_tokens for e in estimates):,}",
                      fmt_usd(None if None in costs else sum(costs)),
                      fmt_seconds(None if None in walls else sum(walls)))
    console.print(table)
    for e in estimates:
        secs, wall_how = e.wall()
        pilot = ""
        if e.pilot is not None:
            paid = f", cost {fmt_usd(e.pilot_cost)}" if e.pilot_cost is not None else ""
            pilot = (f"\n  pilot: {e.pilot.requests} requests in {e.pilot.seconds:.1f}s after a "
                     f"{e.pilot.start_s:.0f}s start{paid}")
        console.print(f"{e.name}: prompt tokens {e.prompt_tokens_how}; completion tokens {e.completion_how}; "
                      f"price {e.price_how}; wall time {wall_how}{pilot}", highlight=False, soft_wrap=True)
