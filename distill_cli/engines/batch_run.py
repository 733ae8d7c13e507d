"""The two halves of a batch backend: `BatchBackend`, a provider's client (encode, submit, poll, read results,
with retried HTTP calls), and `BatchRun`, the provider-independent run of one shard's requests over it.

A shard's run submits what no earlier run submitted, checkpoints each batch id as soon as the provider accepts it
(see batch_common), waits, hands every request's result to the stage, and resubmits each expired or failed
request once. Runs of several shards may share one client at once (`generate --workers N`).
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import httpx

from distill_cli.engines.batch_common import (
    STATE_FILE,
    BatchLimits,
    BatchState,
    BatchStatus,
    Item,
    api_message,
    error_result,
    fresh_stats,
    split_batches,
)
from distill_cli.engines.retry import is_retryable_status, parse_retry_after, retry_delay
from distill_cli.engines.types import Request, Result
from distill_cli.errors import BadInput, StageFailure


class BatchRun:
    """One shard's requests through a batch API; its counters are this shard's, for the shard's stats."""

    def __init__(self, api: BatchBackend, state_path: Path | None):
        self.api, self.state_path = api, state_path
        self.requests_sent = 0
        self.batch_stats = fresh_stats()

    def close(self) -> None:
        pass  # the client is the backend's, closed with it

    def generate(self, requests: Iterable[Request], on_result: Callable[[Result], None]) -> None:
        """Submit what no earlier run submitted, re-attach to what one did, deliver every request's result."""
        api = self.api
        todo = {r.key: r for r in requests}
        state = BatchState(self.state_path)
        pending = [b for b in state.batches if not b["delivered"] and b["base_url"] == api.base_url
                   and b["provider"] == api.provider and any(k in todo for k in b["keys"])]
        self.batch_stats["batches_reattached"] += len(pending)
        covered = {k for b in pending for k in b["keys"]}
        pending += self._submit_all([r for r in todo.values() if r.key not in covered], 1, state)
        while pending:
            ended = [(b, status) for b in pending if (status := api.poll(b["id"])).ended]
            for batch, status in ended:
                pending.remove(batch)
                pending += self._deliver(batch, status, todo, on_result, state)
            if pending:
                time.sleep(api.poll_interval)

    def _submit_all(self, reqs: list[Request], attempt: int, state: BatchState) -> list[dict]:
        """Submit in batches within the limits; each id is checkpointed as soon as the provider accepts it."""
        out = []
        for chunk in split_batches([(r.key, self.api.encode(r)) for r in reqs], self.api.limits):
            batch_id = self.api.submit([line for _, line in chunk])
            out.append(state.add(self.api.provider, self.api.base_url, batch_id, [k for k, _ in chunk], attempt))
            state.save()
            self.requests_sent += len(chunk)
            self.batch_stats["batches_submitted"] += 1
            self.batch_stats["requests_submitted"] += len(chunk)
        return out

    def _deliver(self, batch: dict, status: BatchStatus, todo: dict[str, Request],
                 on_result: Callable[[Result], None], state: BatchState) -> list[dict]:
        """Hand over an ended batch's results; resubmit its failures once (first attempt) or record them."""
        wanted = [k for k in batch["keys"] if k in todo]
        seen: dict[str, Item] = {}
        if status.message is None:
            seen = {item.key: item for item in self.api.items(batch["id"]) if item.key in todo}
        failed: list[Item] = []
        for key in wanted:
            item = seen.get(key) or Item(key, None, "failed", status.message or f"no result in batch {batch['id']} "
                                         f"({status.state})")
            if item.body is not None:
                on_result(self._safe_result(todo[key], item.body))
            else:
                failed.append(item)
        retry = batch["attempt"] < 2
        for item in failed:
            group = "resubmitted" if retry else "errors"
            self.batch_stats[group][item.kind] = self.batch_stats[group].get(item.kind, 0) + 1
            if not retry:
                on_result(error_result(todo[item.key], f"{item.kind} twice in batches: {item.message}"[:500]))
        flush = getattr(on_result, "flush", None)
        if flush is not None:
            flush()  # results saved before the batch is marked delivered: a kill re-reads, never loses
        batch["delivered"] = True  # saved with the retry batch's id, so a kill cannot resubmit these twice
        again = self._submit_all([todo[i.key] for i in failed], 2, state) if retry and failed else []
        state.save()
        return again

    def _safe_result(self, req: Request, body: dict) -> Result:
        try:
            return self.api.to_result(req, body)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError) as exc:
            return error_result(req, f"unusable response ({type(exc).__name__}): {json.dumps(body)[:200]}")


class BatchBackend:
    """A provider's client: a subclass says how to encode, submit, poll and read one batch; BatchRun drives."""

    provider = "batch"
    env_keys: tuple[str, ...] = ()

    def __init__(self, model: str, base_url: str, api_key: str | None, limits: BatchLimits,
                 poll_interval: float = 30.0, max_retries: int = 5, backoff_base: float = 1.0,
                 timeout: float = 300.0):
        limits.check()
        if not base_url.startswith(("http://", "https://")):
            raise BadInput(f"--base-url: expected http(s)://HOST/v1, got {base_url!r}")
        self.api_key = api_key or next((os.environ[k] for k in self.env_keys if os.environ.get(k)), None)
        if not self.api_key:
            raise BadInput(f"--backend {self.provider}: no API key; set {' or '.join(self.env_keys)} or --api-key")
        self.model, self.base_url, self.limits = model, base_url.rstrip("/"), limits
        self.poll_interval, self.max_retries, self.backoff_base = poll_interval, max_retries, backoff_base
        self.requests_sent = 0  # over every generate() call, as the other backends count
        self.batch_stats = fresh_stats()  # of the last generate() call
        self._http = httpx.Client(timeout=httpx.Timeout(timeout, connect=30.0), headers=self.headers())
        self._rng = random.Random()

    # ---- what a provider implements ------------------------------------------------------------------------

    def headers(self) -> dict[str, str]:
        raise NotImplementedError

    def encode(self, req: Request) -> bytes:
        """One request as the provider's batch line (JSON, no newline), carrying req.key as custom_id."""
        raise NotImplementedError

    def submit(self, lines: list[bytes]) -> str:
        """Send one batch; its id."""
        raise NotImplementedError

    def poll(self, batch_id: str) -> BatchStatus:
        raise NotImplementedError

    def items(self, batch_id: str) -> Iterator[Item]:
        """Every result line of an ended batch."""
        raise NotImplementedError

    def to_result(self, req: Request, body: dict) -> Result:
        raise NotImplementedError

    # ---- the generate interface --------------------------------------------------------------------------------

    def for_shard(self, work_dir: Path) -> BatchRun:
        """A run of one shard, checkpointing its batch ids in the shard's work directory; shards may run at once
        (each its own BatchRun) over this one client."""
        return BatchRun(self, Path(work_dir) / STATE_FILE)

    def generate(self, requests: Iterable[Request], on_result: Callable[[Result], None]) -> None:
        """Like a shard's run, with the batch ids kept in memory only (nothing to re-attach to after a kill)."""
        run = BatchRun(self, None)
        try:
            run.generate(requests, on_result)
        finally:
            self.requests_sent += run.requests_sent
            self.batch_stats = run.batch_stats

    def close(self) -> None:
        self._http.close()

    def call(self, method: str, path: str, what: str, **kwargs) -> httpx.Response:
        """One API call (`path` under --base-url, or a whole URL the API gave), retried on transient failures;
        a refusal stops the stage with one line."""
        url = path if path.startswith(("http://", "https://")) else f"{self.base_url}{path}"
        detail = ""
        for attempt in range(self.max_retries + 1):
            retry_after = None
            try:
                resp = self._http.request(method, url, **kwargs)
            except httpx.TransportError as exc:
                detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            else:
                if resp.status_code < 300:
                    return resp
                detail = f"HTTP {resp.status_code}: {api_message(resp)}"
                if not is_retryable_status(resp.status_code):
                    key_hint = "; check the API key" if resp.status_code in (401, 403) else ""
                    raise StageFailure(f"{self.provider}: {what} failed at {url}: {detail}{key_hint}")
                retry_after = parse_retry_after(resp.headers.get("retry-after"))
            if attempt < self.max_retries:
                time.sleep(retry_delay(attempt, retry_after, self.backoff_base, 60.0, self._rng))
        raise StageFailure(f"{self.provider}: {what} failed at {url} after {self.max_retries + 1} attempts "
                           f"({detail}); submitted batches are checkpointed, re-run to re-attach")
