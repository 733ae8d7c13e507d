"""Local fakes of the OpenAI Batch API and Anthropic's Message Batches, in one loopback server (stdlib only).

    python tests/support/fake_batch_api.py --port 0 --complete-after 2 --expire-rate 0.01 --expire-times 2

Prints `READY http://127.0.0.1:PORT` once listening; both APIs live under /v1, as the real ones do:
  OpenAI:    POST /v1/files (multipart, purpose=batch), POST /v1/batches, GET /v1/batches/ID,
             GET /v1/files/ID/content (the output file and the error file)
  Anthropic: POST /v1/messages/batches, GET /v1/messages/batches/ID, GET /v1/messages/batches/ID/results
A batch ends --complete-after seconds after it was created (slow completion). Which requests fail is decided by
a hash of (seed, custom_id): a request picked by --expire-rate expires (OpenAI: the batch ends "expired" and the
request is in the error file with code batch_expired; Anthropic: result type "expired") in its first
--expire-times submissions, one picked by --fail-rate fails (OpenAI: a 500 in the error file; Anthropic:
"errored") in its first --fail-times. --upload-status answers every upload (OpenAI file, Anthropic batch) with
that HTTP status. Answers carry deterministic text and `usage` so a test can check the tokens recorded.

GET /stats: batches created, requests submitted per custom_id, uploads refused, polls, downloads.
POST /control changes the options on the fly (JSON of option names); POST /reset forgets every batch and count.
Requests without the API key header get 401.
Exits by itself after --max-lifetime seconds, or when its parent process goes away.
"""

from __future__ import annotations

import argparse
import email.parser
import hashlib
import json
import os
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

OPTIONS = ("complete_after", "expire_rate", "expire_times", "fail_rate", "fail_times", "upload_status", "seed")


def options(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--complete-after", type=float, default=0.0)
    p.add_argument("--expire-rate", type=float, default=0.0)
    p.add_argument("--expire-times", type=int, default=1)
    p.add_argument("--fail-rate", type=float, default=0.0)
    p.add_argument("--fail-times", type=int, default=1)
    p.add_argument("--upload-status", type=int, default=0, help="0: accept uploads")
    p.add_argument("--max-lifetime", type=float, default=600.0)
    return p.parse_args(argv)


def picked(seed: int, key: str, what: str, rate: float) -> bool:
    digest = hashlib.blake2b(f"{seed}:{what}:{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < rate


def answer_text(key: str) -> tuple[str, str]:
    """(thinking, answer) of a request: deterministic, so a test can recompute what a row must hold."""
    n = int(hashlib.blake2b(key.encode(), digest_size=4).hexdigest(), 16) % 1000
    return f"Thinking about {key[:8]}.", f"The answer is \\boxed{{{n}}}."


def usage_of(body: dict) -> dict:
    """Token counts from the request, as an OpenAI server would report them (cached and reasoning detailed)."""
    prompt = max(1, len(json.dumps(body.get("messages", []))) // 4)
    return {"prompt": prompt, "completion": 12, "cached": prompt // 2, "reasoning": 5}


class Fake:
    """All batches of both APIs; every handler thread goes through one lock."""

    def __init__(self, opts: argparse.Namespace):
        self.opts, self.lock = opts, threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict] = {}
        self.submissions: dict[str, int] = {}  # custom_id -> times submitted
        self.counts = {"batches_created": 0, "requests_submitted": 0, "uploads_refused": 0, "polls": 0,
                       "downloads": 0, "unauthorized": 0}

    def create(self, api: str, lines: list[dict]) -> dict:
        """A new batch; each request's fate (ok, expired, failed) is fixed now, from its submission count."""
        with self.lock:
            self.counts["batches_created"] += 1
            batch_id = f"{'batch' if api == 'openai' else 'msgbatch'}_{uuid.uuid4().hex[:16]}"
            fates = {}
            for line in lines:
                key = line["custom_id"]
                nth = self.submissions[key] = self.submissions.get(key, 0) + 1
                self.counts["requests_submitted"] += 1
                if picked(self.opts.seed, key, "expire", self.opts.expire_rate) and nth <= self.opts.expire_times:
                    fates[key] = "expired"
                elif picked(self.opts.seed, key, "fail", self.opts.fail_rate) and nth <= self.opts.fail_times:
                    fates[key] = "failed"
                else:
                    fates[key] = "ok"
            batch = {"id": batch_id, "api": api, "created": time.time(), "lines": lines, "fates": fates,
                     "ends": time.monotonic() + self.opts.complete_after}
            self.batches[batch_id] = batch
            return batch

    def ended(self, batch: dict) -> bool:
        return time.monotonic() >= batch["ends"]


# ---- OpenAI ---------------------------------------------------------------------------------------------------

def openai_batch_object(fake: Fake, batch: dict) -> dict:
    fates = batch["fates"]
    obj = {"id": batch["id"], "object": "batch", "endpoint": "/v1/chat/completions", "completion_window": "24h",
           "input_file_id": batch["input_file_id"], "created_at": int(batch["created"]), "errors": None,
           "status": "in_progress", "output_file_id": None, "error_file_id": None,
           "request_counts": {"total": len(fates), "completed": 0, "failed": 0}}
    if not fake.ended(batch):
        return obj
    bad = [k for k, f in fates.items() if f != "ok"]
    obj["status"] = "expired" if "expired" in fates.values() else "completed"
    obj["request_counts"].update(completed=len(fates) - len(bad), failed=len(bad))
    obj["output_file_id"] = f"file-out-{batch['id']}" if len(bad) < len(fates) else None
    obj["error_file_id"] = f"file-err-{batch['id']}" if bad else None
    return obj


def openai_lines(batch: dict, errors: bool) -> str:
    out = []
    for i, line in enumerate(batch["lines"]):
        key, fate = line["custom_id"], batch["fates"][line["custom_id"]]
        if (fate != "ok") != errors:
            continue
        row: dict = {"id": f"batch_req_{batch['id']}_{i}", "custom_id": key, "response": None, "error": None}
        if fate == "expired":
            row["error"] = {"code": "batch_expired",
                            "message": "This request could not be executed before the completion window expired."}
        elif fate == "failed":
            row["response"] = {"status_code": 500, "request_id": f"req_{i}",
                               "body": {"error": {"message": "The server had an error.", "type": "server_error"}}}
        else:
            row["response"] = {"status_code": 200, "request_id": f"req_{i}", "body": openai_completion(key, line)}
        out.append(json.dumps(row))
    return "".join(x + "\n" for x in out)


def openai_completion(key: str, line: dict) -> dict:
    body = line["body"]
    thinking, answer = answer_text(key)
    u = usage_of(body)
    return {"id": f"chatcmpl-{key[:12]}", "object": "chat.completion", "model": body.get("model"),
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": f"<think>{thinking}</think> {answer}"}}],
            "usage": {"prompt_tokens": u["prompt"], "completion_tokens": u["completion"],
                      "total_tokens": u["prompt"] + u["completion"],
                      "prompt_tokens_details": {"cached_tokens": u["cached"]},
                      "completion_tokens_details": {"reasoning_tokens": u["reasoning"]}}}


# ---- Anthropic -------------------------------------------------------------------------------------------------

def anthropic_batch_object(fake: Fake, batch: dict, root: str) -> dict:
    fates = batch["fates"]
    done = fake.ended(batch)
    counts = {"processing": 0 if done else len(fates), "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
    if done:
        for fate in fates.values():
            counts[{"ok": "succeeded", "failed": "errored", "expired": "expired"}[fate]] += 1
    return {"id": batch["id"], "type": "message_batch", "processing_status": "ended" if done else "in_progress",
            "request_counts": counts, "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(batch["created"])),
            "results_url": f"{root}/v1/messages/batches/{batch['id']}/results" if done else None}


def anthropic_lines(batch: dict) -> str:
    out = []
    for line in batch["lines"]:
        key, fate = line["custom_id"], batch["fates"][line["custom_id"]]
        if fate == "expired":
            result: dict = {"type": "expired"}
        elif fate == "failed":
            result = {"type": "errored", "error": {"type": "error", "error": {"type": "api_error",
                                                                               "message": "Internal server error"}}}
        else:
            thinking, answer = answer_text(key)
            u = usage_of(line["params"])
            result = {"type": "succeeded", "message": {
                "id": f"msg_{key[:12]}", "type": "message", "role": "assistant", "model": line["params"]["model"],
                "content": [{"type": "thinking", "thinking": thinking, "signature": "sig"},
                            {"type": "text", "text": answer}],
                "stop_reason": "end_turn", "stop_sequence": None,
                "usage": {"input_tokens": u["prompt"] - u["cached"], "output_tokens": u["completion"],
                          "cache_read_input_tokens": u["cached"], "cache_creation_input_tokens": 0}}}
        out.append(json.dumps({"custom_id": key, "result": result}))
    return "".join(x + "\n" for x in out)


# ---- HTTP ------------------------------------------------------------------------------------------------------

class Handler(BaseHTTPRequestHandler):
    fake: Fake
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are two writes: without this each answer waits ~40 ms

    def log_message(self, *args) -> None:  # quiet
        pass

    def send(self, status: int, body: dict | str, content_type: str = "application/json") -> None:
        data = (body if isinstance(body, str) else json.dumps(body)).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def error(self, status: int, message: str) -> None:
        self.send(status, {"type": "error", "error": {"message": message, "type": "invalid_request_error"}})

    def read_body(self) -> bytes:
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def authorized(self) -> bool:
        if self.path in ("/stats", "/control", "/reset"):
            return True
        ok = bool(self.headers.get("x-api-key") or (self.headers.get("Authorization") or "").startswith("Bearer "))
        if not ok:
            self.fake.counts["unauthorized"] += 1
            self.error(401, "missing API key")
        return ok

    def do_GET(self) -> None:  # noqa: N802
        if not self.authorized():
            return
        fake, parts = self.fake, self.path.strip("/").split("/")
        if self.path == "/stats":
            with fake.lock:
                return self.send(200, {**fake.counts, "submissions": fake.submissions})
        if parts[:2] == ["v1", "batches"] and len(parts) == 3 and parts[2] in fake.batches:
            fake.counts["polls"] += 1
            return self.send(200, openai_batch_object(fake, fake.batches[parts[2]]))
        if parts[:2] == ["v1", "files"] and len(parts) == 4 and parts[3] == "content":
            return self.openai_file(parts[2])
        if parts[:3] == ["v1", "messages", "batches"] and len(parts) >= 4 and parts[3] in fake.batches:
            batch = fake.batches[parts[3]]
            if len(parts) == 4:
                fake.counts["polls"] += 1
                return self.send(200, anthropic_batch_object(fake, batch, self.root()))
            if parts[4:] == ["results"] and fake.ended(batch):
                fake.counts["downloads"] += 1
                return self.send(200, anthropic_lines(batch), "application/binary")
        self.error(404, f"no such resource: {self.path}")

    def openai_file(self, file_id: str) -> None:
        kind, _, batch_id = file_id.removeprefix("file-").partition("-")
        batch = self.fake.batches.get(batch_id)
        if batch is None or not self.fake.ended(batch) or kind not in ("out", "err"):
            return self.error(404, f"no such file: {file_id}")
        self.fake.counts["downloads"] += 1
        self.send(200, openai_lines(batch, errors=kind == "err"), "application/octet-stream")

    def root(self) -> str:
        return f"http://{self.headers.get('Host')}"

    def do_POST(self) -> None:  # noqa: N802
        if not self.authorized():
            return
        fake, body = self.fake, self.read_body()
        if self.path == "/reset":
            with fake.lock:
                fake.reset()
            return self.send(200, {"reset": True})
        if self.path == "/control":
            changes = json.loads(body or b"{}")
            for name, value in changes.items():
                if name in OPTIONS:
                    setattr(fake.opts, name, value)
            return self.send(200, {name: getattr(fake.opts, name) for name in OPTIONS})
        upload = self.path in ("/v1/files", "/v1/messages/batches")
        if upload and fake.opts.upload_status:
            fake.counts["uploads_refused"] += 1
            return self.error(fake.opts.upload_status, "upload refused by the fake (--upload-status)")
        if self.path == "/v1/files":
            return self.openai_upload(body)
        if self.path == "/v1/batches":
            req = json.loads(body)
            data = fake.files.get(req.get("input_file_id", ""))
            if data is None or req.get("endpoint") != "/v1/chat/completions":
                return self.error(400, "unknown input_file_id or endpoint")
            batch = fake.create("openai", [json.loads(x) for x in data.decode().splitlines() if x.strip()])
            batch["input_file_id"] = req["input_file_id"]
            return self.send(200, openai_batch_object(fake, batch))
        if self.path == "/v1/messages/batches":
            batch = fake.create("anthropic", json.loads(body)["requests"])
            return self.send(200, anthropic_batch_object(fake, batch, self.root()))
        self.error(404, f"no such resource: {self.path}")

    def openai_upload(self, body: bytes) -> None:
        msg = email.parser.BytesParser().parsebytes(
            b"Content-Type: " + self.headers["Content-Type"].encode() + b"\r\n\r\n" + body)
        fields = {part.get_param("name", header="content-disposition"): part.get_payload(decode=True)
                  for part in msg.get_payload()}
        if fields.get("purpose") != b"batch" or not fields.get("file"):
            return self.error(400, "expected purpose=batch and a file")
        with self.fake.lock:
            file_id = f"file-in{len(self.fake.files):05d}"
            self.fake.files[file_id] = fields["file"]
        self.send(200, {"id": file_id, "object": "file", "bytes": len(fields["file"]), "purpose": "batch"})


def watchdog(max_lifetime: float) -> None:
    """Never outlive the test that started us: a time limit and a parent check."""
    parent, deadline = os.getppid(), time.monotonic() + max_lifetime
    while time.monotonic() < deadline and os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


def main() -> None:
    opts = options()
    Handler.fake = Fake(opts)
    server = ThreadingHTTPServer(("127.0.0.1", opts.port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"READY http://127.0.0.1:{server.server_address[1]}", flush=True)
    sys.stdout.flush()
    watchdog(opts.max_lifetime)


if __name__ == "__main__":
    main()
