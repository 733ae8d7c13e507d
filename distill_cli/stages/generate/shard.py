"""One shard of generate: resume from its checkpoint, send only the missing requests, save results as they finish.

This is the only part of the stage that touches state, and only through `task.checkpoint` (atomic chunk files)
and `task.progress`: the backend streams finished results into a `ResultSink`, which saves a chunk every
`every` results or `seconds` seconds, and flushes what it holds when the run stops for any reason.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import polars as pl

from distill_cli.engines.types import Backend, Result
from distill_cli.errors import StageFailure
from distill_cli.stagedir.runner import ShardTask
from distill_cli.stages.generate.budget import Budget
from distill_cli.stages.generate.core import (
    GenerateConfig,
    build_requests,
    check_ids,
    finished_keys,
    latest_results,
    result_row,
    results_frame,
    trace_stats,
    traces_frame,
)


class ResultSink:
    """Collects finished results (from any thread) and checkpoints them in chunks."""

    def __init__(self, task: ShardTask, n: int, already: dict[str, int], every: int = 64, seconds: float = 30.0,
                 budget: Budget | None = None):
        self.task, self.n, self.every, self.seconds, self.budget = task, n, max(1, every), seconds, budget
        self.stop_at_budget = False
        self.rows: list[dict] = []  # every row received in this run
        self._pending: list[dict] = []
        self._per_prompt = dict(already)  # samples finished per prompt id, to advance the bar per whole prompt
        self._lock = threading.Lock()
        self._last_flush = self._started = time.monotonic()
        self.completion_tokens = 0

    def __call__(self, result: Result) -> None:
        row = result_row(result)
        with self._lock:
            self.rows.append(row)
            self._pending.append(row)
            self.completion_tokens += row["completion_tokens"] or 0
            done = self._per_prompt.get(row["id"], 0) + 1
            self._per_prompt[row["id"]] = done
            if done == self.n:
                rate = self.completion_tokens / max(time.monotonic() - self._started, 1e-6)
                self.task.progress.advance(1, note=f"{rate:.0f} tok/s")
            if len(self._pending) >= self.every or time.monotonic() - self._last_flush >= self.seconds:
                self._flush_locked()
        if self.budget is not None:  # a local engine stops at once (raises); a server finishes what is in flight
            self.budget.add(row, stop=self.stop_at_budget)

    def flush(self) -> None:
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        if self._pending:
            self.task.checkpoint.append(results_frame(self._pending))
            self._pending = []
        self._last_flush = time.monotonic()

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self._started


def generate_shard(df: pl.DataFrame, task: ShardTask, cfg: GenerateConfig, get_backend: Callable[[], Backend],
                   every: int = 64, seconds: float = 30.0, budget: Budget | None = None) -> tuple[pl.DataFrame, dict]:
    """The traces of one shard, sending only requests that have no saved result (errors are retried)."""
    check_ids(df, str(task.unit.file) if task.unit else "input")
    requests = build_requests(df, cfg)
    wanted = {r.key for r in requests}
    saved = latest_results(task.checkpoint.load())
    saved = saved.filter(pl.col("request_key").is_in(list(wanted)))
    done = finished_keys(saved)
    todo = [r for r in requests if r.key not in done]
    already = saved.filter(pl.col("request_key").is_in(list(done))).group_by("id").len()
    already_map = dict(already.iter_rows())
    task.progress.advance(sum(1 for v in already_map.values() if v >= cfg.n), resumed=True)
    if budget is not None:
        budget.add_saved(saved)
        if todo:
            budget.check()  # nothing is sent once the recorded cost is at the budget

    backend = get_backend() if todo else None  # a finished shard never starts an engine
    sink = ResultSink(task, cfg.n, already_map, every, seconds, budget)  # its clock starts after the engine start
    sink.stop_at_budget = cfg.backend == "vllm"
    sent = 0
    if backend is not None:
        if hasattr(backend, "for_shard"):  # a batch API: its batch ids are checkpointed beside the chunks
            backend = backend.for_shard(task.checkpoint.work_dir)
        before = getattr(backend, "requests_sent", 0)
        try:
            backend.generate(_gated(todo, budget, cfg, backend), sink)
        finally:
            sink.flush()  # a crash or Ctrl-C keeps every result that already arrived
            sent = getattr(backend, "requests_sent", before + len(todo)) - before
    results = latest_results(pl.concat([saved, results_frame(sink.rows)], how="diagonal_relaxed"))
    missing = wanted - set(results["request_key"].to_list())
    if missing and budget is not None and budget.reached:
        budget.check()
    if missing:
        raise StageFailure(f"{len(missing)} of {len(requests)} requests got no result from the {cfg.backend} "
                           "backend; finished ones are saved, re-run to continue")
    traces = traces_frame(df, results, cfg)
    new = results_frame(sink.rows)
    stats = {**trace_stats(traces), "requests": len(requests), "requests_sent": sent, "resumed": len(done),
             "generated": {"samples": new.height, "prompt_tokens": int(new["prompt_tokens"].sum() or 0),
                           "completion_tokens": int(new["completion_tokens"].sum() or 0),
                           "seconds": round(sink.elapsed, 3) if backend is not None else 0.0}}
    if getattr(backend, "batch_stats", None):  # batches submitted, re-attached, requests resubmitted
        stats["batch"] = backend.batch_stats
    kv_note = getattr(backend, "kv_note", None)  # the engine's KV-cache size and why (a string: never summed)
    if kv_note:
        stats["kv_cache_memory"] = kv_note
    return traces, stats


def _gated(todo: list, budget: Budget | None, cfg: GenerateConfig, backend: Backend):
    """A server backend stops sending at --max-cost and finishes what is in flight; the offline engine (all
    requests queued at once, nothing billed per request) is stopped by the sink instead."""
    if budget is None or cfg.backend != "openai":
        return todo
    return budget.gate(todo, window=getattr(backend, "concurrency", 1) + 1)
