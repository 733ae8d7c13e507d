"""The `openai-batch` backend: the OpenAI Batch API (half the price of the same requests sent one by one).

A batch is a JSONL file uploaded to /v1/files (purpose "batch"), then POST /v1/batches with its id and the
endpoint /v1/chat/completions. The batch is polled until it ends (completed, expired, failed, cancelled);
its output file holds the requests that succeeded and its error file the ones that did not (an expired request
carries the error code "batch_expired"). Each line's `custom_id` is generate's request key, so a result maps
back to exactly one (prompt id, sample) whatever order the provider writes them in.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from distill_cli.engines.batch_common import BatchLimits, BatchStatus, Item, make_result
from distill_cli.engines.batch_run import BatchBackend
from distill_cli.engines.types import Request, Result

# https://platform.openai.com/docs/guides/batch: at most 50,000 requests and 200 MB per input file
LIMITS = BatchLimits(max_requests=50_000, max_bytes=200_000_000)
BASE_URL = "https://api.openai.com/v1"
ENDPOINT = "/v1/chat/completions"
COMPLETION_WINDOW = "24h"  # the only window the API offers
ENDED = {"completed", "expired", "failed", "cancelled"}


class OpenAIBatchBackend(BatchBackend):
    provider = "openai-batch"
    env_keys = ("OPENAI_API_KEY",)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._files: dict[str, tuple[str | None, str | None]] = {}  # ended batch -> (output, error) file ids

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}

    def encode(self, req: Request) -> bytes:
        s = req.sampling
        body: dict = {"model": self.model, "messages": list(req.messages), "temperature": s.temperature,
                      "top_p": s.top_p, "max_completion_tokens": s.max_tokens, "n": 1}
        if s.top_k is not None and s.top_k > 0:  # not an OpenAI field: sent only when asked for
            body["top_k"] = s.top_k
        if s.seed is not None:
            body["seed"] = s.seed + req.sample  # one seed per sample, as the openai backend does
        if req.chat_template_kwargs:
            body["chat_template_kwargs"] = dict(req.chat_template_kwargs)
        line = {"custom_id": req.key, "method": "POST", "url": ENDPOINT, "body": body}
        return json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode()

    def submit(self, lines: list[bytes]) -> str:
        data = b"\n".join(lines) + b"\n"
        upload = self.call("POST", "/files", "uploading the batch input file", data={"purpose": "batch"},
                           files={"file": ("distill-batch.jsonl", data, "application/jsonl")})
        file_id = upload.json()["id"]
        created = self.call("POST", "/batches", "creating the batch",
                            json={"input_file_id": file_id, "endpoint": ENDPOINT,
                                  "completion_window": COMPLETION_WINDOW, "metadata": {"client": "distill"}})
        return created.json()["id"]

    def poll(self, batch_id: str) -> BatchStatus:
        batch = self.call("GET", f"/batches/{batch_id}", f"polling batch {batch_id}").json()
        state = batch.get("status", "")
        if state not in ENDED:
            return BatchStatus(False, state)
        self._files[batch_id] = (batch.get("output_file_id"), batch.get("error_file_id"))
        message = None
        if state == "failed" and not any(self._files[batch_id]):
            errors = (batch.get("errors") or {}).get("data") or [{}]
            message = f"batch {batch_id} failed: {errors[0].get('message') or errors[0].get('code') or 'no reason'}"
        return BatchStatus(True, state, message)

    def items(self, batch_id: str) -> Iterator[Item]:
        for file_id in self._files.get(batch_id, ()):
            if not file_id:
                continue
            text = self.call("GET", f"/files/{file_id}/content", f"downloading {file_id} of batch {batch_id}").text
            for line in text.splitlines():
                if line.strip():
                    yield self._item(json.loads(line))

    @staticmethod
    def _item(row: dict) -> Item:
        key = row.get("custom_id", "")
        resp = row.get("response") or {}
        if resp.get("status_code") == 200 and not row.get("error"):
            return Item(key, resp.get("body") or {})
        err = row.get("error") or ((resp.get("body") or {}).get("error")) or {}
        code = err.get("code") or err.get("type") or f"HTTP {resp.get('status_code')}"
        kind = "expired" if code == "batch_expired" else "canceled" if code == "batch_cancelled" else "failed"
        return Item(key, None, kind, f"{code}: {err.get('message') or ''}".strip())

    def to_result(self, req: Request, body: dict) -> Result:
        choice = body["choices"][0]
        msg = choice["message"]
        reasoning = msg.get("reasoning_content") or msg.get("reasoning")
        seed = None if req.sampling.seed is None else req.sampling.seed + req.sample
        return make_result(req, msg.get("content") or "", choice.get("finish_reason") or "stop", body.get("usage"),
                           reasoning, seed)
