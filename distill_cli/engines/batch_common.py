"""What the two batch backends (OpenAI Batch API, Anthropic Message Batches) share: splitting requests into
batches within a provider's limits, the checkpoint of submitted batch ids, waiting, and retrying once.

A batch costs half as much as the same requests sent one by one, but it runs for up to a day, so the one thing
that must never happen is paying for it twice. Every batch id is therefore written (atomically) to a state file
in the shard's work directory right after the provider accepts it, BEFORE any waiting; a run killed while it
waits finds the ids there and re-attaches to its batches instead of submitting again. A batch is marked
`delivered` only after its results are saved in the shard's checkpoint, so a kill while results are being
saved re-reads the same results, and the stage keeps each request's result exactly once (by its key).

A request that expired, failed, or was cancelled is resubmitted once, in a new batch, and counted; if it fails
again it becomes an error row (which, as for every backend, the next run of the stage sends again).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from distill_cli.engines.types import Request, Result
from distill_cli.engines.usage import usage_from_api
from distill_cli.errors import BadInput, StageFailure
from distill_cli.stagedir.atomic import write_json

STATE_FILE = "batches.json"  # in the shard's work directory (_work/part-NNNNN/), removed with it


@dataclass(frozen=True)
class BatchLimits:
    """How much one batch may hold; a provider refuses a batch over either limit."""

    max_requests: int
    max_bytes: int

    def check(self) -> None:
        if self.max_requests < 1:
            raise BadInput(f"--batch-max-requests: must be at least 1, got {self.max_requests}")
        if self.max_bytes < 1024:
            raise BadInput(f"--batch-max-bytes: must be at least 1024, got {self.max_bytes}")


@dataclass(frozen=True)
class BatchStatus:
    """Where a submitted batch is: `ended` once its results can be read (whatever the outcome)."""

    ended: bool
    state: str  # the provider's word: in_progress, completed, expired, failed, ended, ...
    message: str | None = None  # why a batch failed as a whole (then it has no results)


@dataclass(frozen=True)
class Item:
    """One request's outcome in a batch's results: a response body, or why there is none."""

    key: str
    body: dict | None  # the provider's response for this request; None when it did not succeed
    kind: str = "ok"  # ok | expired | failed | canceled
    message: str = ""


def split_batches(lines: list[tuple[str, bytes]], limits: BatchLimits) -> list[list[tuple[str, bytes]]]:
    """Consecutive runs of (key, encoded request) within the request and byte limits (a newline per line)."""
    batches: list[list[tuple[str, bytes]]] = []
    current: list[tuple[str, bytes]] = []
    size = 0
    for key, line in lines:
        if len(line) + 1 > limits.max_bytes:
            raise BadInput(f"request {key}: {len(line)} bytes, over the batch limit of {limits.max_bytes} bytes")
        if current and (len(current) >= limits.max_requests or size + len(line) + 1 > limits.max_bytes):
            batches.append(current)
            current, size = [], 0
        current.append((key, line))
        size += len(line) + 1
    if current:
        batches.append(current)
    return batches


def make_result(req: Request, text: str, finish: str, usage: dict | None, reasoning: str | None = None,
                seed: int | None = None) -> Result:
    """A Result with the API's own token counts (OpenAI or Anthropic `usage`, read by engines/usage.py), in the
    same shape the OpenAI-compatible backend records."""
    u = usage_from_api(usage)
    extra = {name: getattr(u, name) for name in ("cached_tokens", "reasoning_tokens")
             if name in Result.__dataclass_fields__}  # the per-row token columns, where this version has them
    return Result(request=req, text=text, finish_reason=finish, prompt_tokens=u.prompt_tokens,
                  completion_tokens=u.completion_tokens, reasoning_content=reasoning, seed=seed, **extra)


def error_result(req: Request, message: str) -> Result:
    return Result(req, "", "error", 0, 0, error=message)


def fresh_stats() -> dict:
    """Counters that add up across shards: resubmitted and errors by kind (expired, failed, canceled)."""
    return {"batches_submitted": 0, "requests_submitted": 0, "batches_reattached": 0, "resubmitted": {},
            "errors": {}}


class BatchState:
    """The submitted batches of one shard, saved whole on every change."""

    def __init__(self, path: Path | None):
        self.path = path
        self.batches: list[dict] = []
        if path is not None and path.exists():
            try:
                self.batches = json.loads(path.read_text())["batches"]
            except (ValueError, KeyError, TypeError) as exc:
                raise StageFailure(f"{path}: unreadable batch checkpoint ({exc}); it lists batches already paid "
                                   "for, so it is not ignored: fix or delete it to submit again") from exc

    def add(self, provider: str, base_url: str, batch_id: str, keys: list[str], attempt: int) -> dict:
        entry = {"provider": provider, "base_url": base_url, "id": batch_id, "attempt": attempt,
                 "delivered": False, "submitted_at": round(time.time(), 3), "keys": keys}
        self.batches.append(entry)
        return entry

    def save(self) -> None:
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            write_json(self.path, {"batches": self.batches})


def api_message(resp: httpx.Response) -> str:
    """The human part of an API error body ({"error": {"message": ...}} for both providers)."""
    try:
        body = resp.json()
    except ValueError:
        return resp.text.strip()[:300] or resp.reason_phrase
    err = body.get("error") if isinstance(body, dict) else None
    if isinstance(err, dict) and err.get("message"):
        return str(err["message"])[:300]
    return json.dumps(body)[:300]

