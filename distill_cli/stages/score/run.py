"""The glue of score: per shard, check and tokenize the traces, score what no checkpoint holds, join the columns.

Like generate, a shard saves finished traces a chunk at a time (`task.checkpoint`), so a killed run resumes without
scoring a trace twice; the engine starts only when a shard has work. Every trace is checked before the engine
starts (its token ids against the scoring model's tokenizer), so bad input fails in seconds, not after a minute.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict

import numpy as np
import polars as pl

from distill_cli.engines.scorer import Scored, ScoreRequest
from distill_cli.errors import StageFailure
from distill_cli.stagedir.runner import ShardTask
from distill_cli.stages.score.config import ScoreConfig
from distill_cli.stages.score.core import (
    completion_ids,
    result_frame,
    score_stats,
    scores_frame,
    summary_schema,
    trace_key,
    trace_request,
)


class Tokenizer:
    """The scoring model's tokenizer (the files vLLM loads), for the checks made before the engine starts."""

    def __init__(self, path: str):
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.vocab = len(self.tokenizer)


class Sink:
    """Scored traces from the engine, saved to the shard's checkpoint every `every` traces or `seconds`."""

    def __init__(self, task: ShardTask, cfg: ScoreConfig, every: int, seconds: float):
        self.task, self.cfg, self.every, self.seconds = task, cfg, max(1, every), seconds
        self.frames: list[pl.DataFrame] = []
        self._pending: list[Scored] = []
        self._last = self.started = time.monotonic()
        self.tokens = 0

    def __call__(self, item: Scored) -> None:
        self._pending.append(item)
        self.tokens += len(item.request.token_ids)
        self.task.progress.advance(1, note=f"{self.tokens / max(time.monotonic() - self.started, 1e-6):.0f} tok/s")
        if len(self._pending) >= self.every or time.monotonic() - self._last >= self.seconds:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            frame = result_frame([s.request.key for s in self._pending], [s.logprobs for s in self._pending],
                                 [s.error for s in self._pending], self.cfg)
            self.task.checkpoint.append(frame)
            self.frames.append(frame)
            self._pending = []
        self._last = time.monotonic()


def score_shard(df: pl.DataFrame, task: ShardTask, cfg: ScoreConfig, tok: Tokenizer, get_scorer: Callable,
                every: int = 64, seconds: float = 30.0) -> tuple[pl.DataFrame, dict]:
    where, first = (str(task.unit.file), task.unit.start) if task.unit else ("input", 0)
    ids = completion_ids(df, tok.tokenizer, tok.vocab, cfg.model_name, where, first)
    requests = [trace_request(p, g, cfg) for p, g in zip(df["prompt"].to_list(), _col(df, "gen_params"),
                                                         strict=True)]
    rows = df.select([c for c in ("id", "model", "sample") if c in df.columns]).to_dicts()
    keys = [trace_key(r, m, kw, i) if i is not None else None for r, (m, kw), i in zip(rows, requests, ids,
                                                                                         strict=True)]
    saved = _latest(task.checkpoint.load(), cfg)
    done = set(saved.filter(pl.col(f"{cfg.prefix}tokens").is_not_null())["request_key"].to_list())
    todo = [j for j, k in enumerate(keys) if k is not None and k not in done]
    task.progress.advance(df.height - len(todo), resumed=True)
    scorer = get_scorer() if todo else None  # a finished shard never starts an engine
    sink, sent = Sink(task, cfg, every, seconds), 0  # its clock starts after the engine start
    if scorer is not None:
        before = scorer.requests_sent
        try:
            scorer.score(_requests(scorer, todo, keys, requests, ids), sink)
        finally:
            sink.flush()  # a crash or Ctrl-C keeps every trace already scored
            sent = scorer.requests_sent - before
    results = _latest(pl.concat([saved, *sink.frames], how="diagonal_relaxed") if sink.frames else saved, cfg)
    missing = {keys[j] for j in todo} - set(results["request_key"].to_list())
    if missing:
        raise StageFailure(f"{len(missing)} trace(s) got no score from the engine; finished ones are saved, re-run "
                           "to continue")
    out = scores_frame(df, keys, ids, results, cfg)
    stats = {**score_stats(out, cfg), "sent": sent, "resumed": len(done & set(keys)),
             "seconds_scoring": round(time.monotonic() - sink.started, 3) if scorer else 0.0}
    if getattr(scorer, "kv_note", None):
        stats["kv_cache_memory"] = scorer.kv_note
    return out, stats


def _col(df: pl.DataFrame, name: str) -> list:
    return df[name].to_list() if name in df.columns else [None] * df.height


def _requests(scorer, todo: list[int], keys: list, requests: list, ids: list):
    """Requests in input order, each prompt rendered once (a prompt's n samples share it)."""
    rendered: dict[str, np.ndarray] = {}
    for j in todo:
        messages, kwargs = requests[j]
        cache = json.dumps([messages, kwargs], sort_keys=True)
        if cache not in rendered:
            rendered[cache] = scorer.render(messages, kwargs)
        yield ScoreRequest(keys[j], rendered[cache], ids[j])


def _latest(saved: pl.DataFrame | None, cfg: ScoreConfig) -> pl.DataFrame:
    """The newest result per trace (a resumed run retries failed traces and appends their new rows)."""
    if saved is None or saved.height == 0:
        return pl.DataFrame(schema=summary_schema(cfg.prefix))
    return saved.unique("request_key", keep="last", maintain_order=True)


def params(cfg: ScoreConfig, engine: dict) -> dict:
    """What changes the output: the model, role, K and its dtype, the rendering of traces without gen_params, and
    the engine options that change the numbers (dtype, max_model_len)."""
    return {"score": {**asdict(cfg), "engine": engine}}


def run(cfg: ScoreConfig, input: str, opts, engine: dict, every: int = 64, seconds: float = 30.0,
        make_scorer: Callable | None = None):
    """Score every trace of `input` into `opts.out`; `engine` holds VLLMBackend's options (dtype, memory, ...).
    `make_scorer` replaces the engine this builds (a caller holding one already: the tests, the benchmark)."""
    from functools import partial

    from distill_cli.engines.backends import LazyBackend
    from distill_cli.engines.logprobs import check_k, max_logprobs_arg, size_stats
    from distill_cli.model import resolve_model
    from distill_cli.stagedir.inputs import open_input
    from distill_cli.stagedir.runner import run_map

    inp = open_input(input)
    inp.require("score", {"id": pl.String, "prompt": pl.String, "completion": pl.String}, not_null=())
    path = resolve_model(cfg.model)
    engine = dict(engine)
    engine_args = max_logprobs_arg(cfg.logprobs, engine.pop("engine_args", None) or {})  # before the tokenizer
    tok = Tokenizer(path)  # loading it imports transformers and torch: seconds
    check_k(cfg.k, tok.vocab)
    lazy = LazyBackend(make_scorer or partial(_scorer, cfg.k, path, engine, engine_args))
    recorded = {k: engine.get(k) for k in ("dtype", "max_model_len") if engine.get(k) is not None}
    try:
        sd = run_map("score", inp, opts, params=params(cfg, recorded),
                     process=lambda df, task: score_shard(df, task, cfg, tok, lazy.get, every, seconds))
    finally:
        lazy.close()
    manifest = sd.read_manifest()
    if manifest.get("complete"):
        stats = manifest.get("stats") or {}
        secs = stats.get("seconds_scoring") or 0
        extra = {"tokens_per_s": round(stats.get("tokens", 0) / secs, 1) if secs else None}
        if cfg.logprobs is not None:
            paths = [sd.shard_path(i) for i in range(sd.n_shards)]
            extra["logprobs"] = {"k": cfg.logprobs, **size_stats(paths, stats.get("tokens", 0), cfg.prefix)}
        sd.finish(extra)
    _summary(sd, opts)
    return sd


def _summary(sd, opts) -> None:
    from distill_cli.progress import console
    from distill_cli.stagedir.messages import already_complete, shard_pending

    if opts.quiet or already_complete("score", sd, opts.out, opts.quiet) or \
            shard_pending("score", sd, opts.shard, opts.out, opts.quiet):
        return
    stats = sd.read_manifest().get("stats") or {}
    rate, size = stats.get("tokens_per_s"), (stats.get("logprobs") or {}).get("bytes_per_token")
    console.print(f"score: {stats.get('scored', 0)} traces, {stats.get('tokens', 0)} tokens"
                  f"{f' at {rate:.0f} tok/s' if rate else ''}; {stats.get('errors', 0)} not scorable"
                  f"{f'; {size} bytes/token stored' if size else ''} -> {opts.out}")


def _scorer(k: int, path: str, engine: dict, engine_args: dict):
    from distill_cli.engines.scorer import VLLMScorer

    return VLLMScorer(k, model=path, engine_args=engine_args, **engine)
