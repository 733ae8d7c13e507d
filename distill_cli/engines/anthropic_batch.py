"""The `anthropic-batch` backend: Anthropic's Message Batches API (half the price of single requests).

POST /v1/messages/batches takes a list of {custom_id, params} (params = a Messages API request); the batch is
polled until `processing_status` is "ended", then its `results_url` gives one JSON line per request with a result
of type succeeded, errored, canceled or expired. `custom_id` is generate's request key (32 hex characters, within
the API's 64-character [a-zA-Z0-9_-] rule), so each result maps back to exactly one (prompt id, sample).

The Messages API takes the system prompt apart from the messages, has no seed, and returns the thinking of
extended thinking as `thinking` content blocks, which become the row's reasoning.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from distill_cli.engines.batch_common import BatchLimits, BatchStatus, Item, make_result
from distill_cli.engines.batch_run import BatchBackend
from distill_cli.engines.types import Request, Result
from distill_cli.errors import BadInput

# https://docs.anthropic.com/en/docs/build-with-claude/batch-processing: 100,000 requests or 256 MB per batch
LIMITS = BatchLimits(max_requests=100_000, max_bytes=256_000_000)
BASE_URL = "https://api.anthropic.com/v1"
API_VERSION = "2023-06-01"
FINISH = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length"}  # in the traces' vocabulary
ENVELOPE = len(b'{"requests":[]}')


class AnthropicBatchBackend(BatchBackend):
    provider = "anthropic-batch"
    env_keys = ("ANTHROPIC_API_KEY",)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._results: dict[str, str] = {}  # ended batch -> its results_url

    def headers(self) -> dict[str, str]:
        return {"x-api-key": self.api_key or "", "anthropic-version": API_VERSION}

    def encode(self, req: Request) -> bytes:
        if req.chat_template_kwargs:
            raise BadInput("--chat-template-kwargs: not with --backend anthropic-batch (the Messages API has no "
                           "chat template)")
        s = req.sampling
        system = "\n\n".join(m["content"] for m in req.messages if m["role"] == "system")
        params: dict = {"model": self.model, "max_tokens": s.max_tokens, "temperature": s.temperature,
                        "messages": [m for m in req.messages if m["role"] != "system"]}
        if system:
            params["system"] = system
        if s.top_p < 1.0:  # newer models refuse temperature and top_p together: pass --top-p 1 for them
            params["top_p"] = s.top_p
        if s.top_k is not None and s.top_k > 0:
            params["top_k"] = s.top_k
        return json.dumps({"custom_id": req.key, "params": params}, ensure_ascii=False,
                          separators=(",", ":")).encode()

    def submit(self, lines: list[bytes]) -> str:
        body = b'{"requests":[' + b",".join(lines) + b"]}"
        created = self.call("POST", "/messages/batches", "creating the message batch", content=body,
                            headers={"content-type": "application/json"})
        return created.json()["id"]

    def poll(self, batch_id: str) -> BatchStatus:
        batch = self.call("GET", f"/messages/batches/{batch_id}", f"polling batch {batch_id}").json()
        state = batch.get("processing_status", "")
        if state != "ended":
            return BatchStatus(False, state)
        url = batch.get("results_url")
        if not url:
            return BatchStatus(True, state, f"batch {batch_id} ended without a results_url")
        self._results[batch_id] = url
        return BatchStatus(True, state)

    def items(self, batch_id: str) -> Iterator[Item]:
        resp = self.call("GET", self._results[batch_id], f"downloading the results of batch {batch_id}")
        for line in resp.text.splitlines():
            if line.strip():
                yield self._item(json.loads(line))

    @staticmethod
    def _item(row: dict) -> Item:
        key, result = row.get("custom_id", ""), row.get("result") or {}
        kind = result.get("type", "")
        if kind == "succeeded":
            return Item(key, result.get("message") or {})
        err = (result.get("error") or {}).get("error") or result.get("error") or {}
        message = f"{err.get('type', kind)}: {err.get('message', '')}".strip() if err else kind
        return Item(key, None, kind if kind in ("expired", "canceled") else "failed", message)

    def to_result(self, req: Request, body: dict) -> Result:
        blocks = body["content"]
        text = "".join(b.get("text", "") for b in blocks if b.get("type") == "text")
        thinking = [b.get("thinking", "") for b in blocks if b.get("type") == "thinking"]
        stop = body.get("stop_reason") or "stop"
        return make_result(req, text, FINISH.get(stop, stop), body.get("usage"),
                           "".join(thinking) if thinking else None, None)
