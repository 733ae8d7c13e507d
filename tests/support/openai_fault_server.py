"""A fault-injecting OpenAI-compatible chat server, run as its own process by tests and benchmarks.

    python tests/support/openai_fault_server.py --port 0 --seed 1 --rate-429 0.1 --rate-drop 0.05 ...

Prints `READY http://127.0.0.1:PORT` once listening. Answers GET /v1/models and POST /v1/chat/completions with
a deterministic completion built from the request ("<think>...</think> The answer is \\boxed{N}"), and injects
faults at the configured rates: 429 with Retry-After, 500, 503, slow answers (hangs, then drops the
connection, never a late success), dropped connections and malformed JSON. Each fault is drawn from a hash of
(seed, request key, attempt number), so a run is reproducible whatever the arrival order.

The request key is the X-Distill-Key header when present, else a hash of the messages. GET /stats returns the
counters as JSON: requests received and answered successfully per key, faults by kind, and per-key events
(monotonic arrival time, outcome, Retry-After sent) so a test can check what the client did by counting.
POST /reset clears them; POST /control changes options (rates, hold_after, latency) on the fly.

--script FILE scripts replies (a fake LLM judge): a JSON object {marker: {"reply": TEXT, "faults": [KIND, ...],
"delay": SECONDS}}. A request whose messages contain a marker (the first in file order) gets faults[attempt] on its
attempts 0, 1, ... (then no fault; rate-drawn faults do not apply to it), waits `delay` and answers TEXT.

Loopback only. Exits by itself after --max-lifetime seconds, or when its parent process goes away.
"""

from __future__ import annotations

import argparse
import asyncio
import email.utils
import hashlib
import json
import logging
import os
import sys
import time

from aiohttp import web

FAULTS = ("429", "500", "503", "slow", "drop", "badjson")


def options() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--model", default="fault-model")
    p.add_argument("--seed", type=int, default=0)
    for kind in FAULTS:
        p.add_argument(f"--rate-{kind}", type=float, default=0.0, dest=f"rate_{kind}")
    p.add_argument("--retry-after", type=float, default=1.0, help="seconds asked for in a 429")
    p.add_argument("--retry-after-date", action="store_true", help="send Retry-After as an HTTP date")
    p.add_argument("--slow-seconds", type=float, default=30.0, help="how long a slow answer hangs before dropping")
    p.add_argument("--latency", type=float, default=0.0, help="delay before every real answer")
    p.add_argument("--max-prompt-chars", type=int, default=100_000, help="longer prompts get a 400")
    p.add_argument("--hold-after", type=int, default=None, help="after N successes, hang every request")
    p.add_argument("--split-reasoning", action="store_true", help="send thinking in reasoning_content")
    p.add_argument("--script", default=None, help="JSON file of scripted replies by marker (see above)")
    p.add_argument("--usage-details", action="store_true",
                   help="report cached prompt tokens (half the prompt) and reasoning tokens, as OpenAI does")
    p.add_argument("--max-lifetime", type=float, default=600.0)
    return p.parse_args()


class State:
    def __init__(self, opts: argparse.Namespace):
        self.opts = opts
        self.script: dict[str, dict] = {}
        if opts.script:
            with open(opts.script, encoding="utf-8") as fh:
                self.script = json.load(fh)
        self.reset()

    def scripted(self, body: dict) -> dict | None:
        text = "\n".join(str(m.get("content", "")) for m in body.get("messages") or [])
        return next((entry for marker, entry in self.script.items() if marker in text), None)

    def reset(self) -> None:
        self.received: dict[str, int] = {}
        self.answered: dict[str, int] = {}
        self.faults: dict[str, int] = {}
        self.events: dict[str, list] = {}
        self.bodies: dict[str, dict] = {}  # last request body per key: what the client sent
        self.auth: dict[str, str | None] = {}  # last Authorization header per key
        self.successes = 0

    def snapshot(self) -> dict:
        return {
            "received": self.received,
            "answered": self.answered,
            "faults": self.faults,
            "events": self.events,
            "bodies": self.bodies,
            "auth": self.auth,
            "total_received": sum(self.received.values()),
            "total_answered": sum(self.answered.values()),
        }

    def fault_for(self, key: str, attempt: int) -> str | None:
        digest = hashlib.sha256(f"{self.opts.seed}:{key}:{attempt}".encode()).digest()
        u = int.from_bytes(digest[:8], "big") / 2**64
        edge = 0.0
        for kind in FAULTS:
            edge += getattr(self.opts, f"rate_{kind}")
            if u < edge:
                return kind
        return None


def completion(key: str, body: dict, split: bool, details: bool = False) -> dict:
    """A deterministic answer whose text depends on the key, so distinct samples give distinct texts."""
    messages = body.get("messages") or []
    digest = hashlib.sha256((key + json.dumps(messages, sort_keys=True)).encode()).hexdigest()
    number = int(digest[:6], 16) % 1000
    thinking = f"Request {digest[:12]}: let me add the numbers step by step and check the result."
    answer = f"The answer is \\boxed{{{number}}}."
    words = f"{thinking} {answer}".split()
    finish = "stop"
    max_tokens = int(body.get("max_tokens") or 10**9)
    if len(words) > max_tokens:
        words, finish = words[:max_tokens], "length"
    n_think = len(thinking.split())
    if split:
        message = {"role": "assistant", "reasoning_content": " ".join(words[:n_think]),
                   "content": " ".join(words[n_think:])}
    else:
        text = " ".join(words)
        text = text.replace(thinking, f"<think>{thinking}</think>") if len(words) > n_think else text
        message = {"role": "assistant", "content": text}
    prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in messages)
    usage = {"prompt_tokens": prompt_tokens, "completion_tokens": len(words),
             "total_tokens": prompt_tokens + len(words)}
    if details:
        usage |= {"prompt_tokens_details": {"cached_tokens": prompt_tokens // 2},
                  "completion_tokens_details": {"reasoning_tokens": min(n_think, len(words))}}
    return {
        "id": f"chatcmpl-{digest[:16]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model"),
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": usage,
    }


def request_key(request: web.Request, body: dict) -> str:
    key = request.headers.get("X-Distill-Key")
    if key:
        return key
    return hashlib.sha256(json.dumps(body.get("messages"), sort_keys=True).encode()).hexdigest()[:16]


def gone(request: web.Request) -> bool:
    return request.transport is None or request.transport.is_closing()


def drop(request: web.Request) -> web.Response:
    """Close the socket without a status line: the client sees a disconnect, not an HTTP error."""
    if request.transport is not None:
        request.transport.abort()
    raise asyncio.CancelledError


async def chat(request: web.Request) -> web.StreamResponse:
    state: State = request.app["state"]
    opts = state.opts
    try:
        body = await request.json()
    except ValueError:
        return web.json_response({"object": "error", "message": "body is not JSON", "code": 400}, status=400)
    key = request_key(request, body)
    attempt = state.received.get(key, 0)
    state.received[key] = attempt + 1
    state.bodies[key] = body
    state.auth[key] = request.headers.get("Authorization")
    event = [time.monotonic(), None, None]
    state.events.setdefault(key, []).append(event)
    if body.get("model") != opts.model:
        event[1] = "404"
        return web.json_response({"object": "error", "message": f"The model `{body.get('model')}` does not exist.",
                                  "type": "NotFoundError", "code": 404}, status=404)
    prompt_chars = sum(len(str(m.get("content", ""))) for m in body.get("messages") or [])
    if prompt_chars > opts.max_prompt_chars:
        event[1] = "400"
        message = (f"This model's maximum context length is {opts.max_prompt_chars} characters. However, your "
                   f"messages resulted in {prompt_chars} characters. Please reduce the length of the messages.")
        return web.json_response({"object": "error", "message": message, "type": "BadRequestError", "code": 400},
                                 status=400)
    if opts.hold_after is not None and state.successes >= opts.hold_after:
        event[1] = "held"
        while opts.hold_after is not None and state.successes >= opts.hold_after:
            if gone(request):
                event[1] = "abandoned"  # the client died while held: never count a late answer to nobody
                return drop(request)
            await asyncio.sleep(0.05)
    entry = state.scripted(body)
    if entry is not None:
        faults = entry.get("faults") or []
        fault = faults[attempt] if attempt < len(faults) else None
    else:
        fault = state.fault_for(key, attempt)
    event[1] = fault or "ok"
    if fault:
        state.faults[fault] = state.faults.get(fault, 0) + 1
    return await answer(request, state, key, body, fault, event)


async def answer(request, state: State, key: str, body: dict, fault: str | None, event: list):
    opts = state.opts
    if fault == "429":
        event[2] = opts.retry_after
        value = (email.utils.formatdate(time.time() + opts.retry_after, usegmt=True) if opts.retry_after_date
                 else f"{opts.retry_after:g}")
        return web.json_response({"error": {"message": "Rate limit reached", "type": "rate_limit"}}, status=429,
                                 headers={"Retry-After": value})
    if fault in ("500", "503"):
        return web.json_response({"object": "error", "message": f"injected {fault}", "code": int(fault)},
                                 status=int(fault))
    if fault == "slow":
        await asyncio.sleep(opts.slow_seconds)
        return drop(request)
    if fault == "drop":
        return drop(request)
    entry = state.scripted(body)
    delay = opts.latency + (entry.get("delay", 0.0) if entry else 0.0)
    if delay:
        await asyncio.sleep(delay)
    if fault == "badjson":
        return web.Response(text='{"choices": [{"message": {"content": "trunc', content_type="application/json")
    if gone(request):
        event[1] = "abandoned"
        return drop(request)
    payload = completion(key, body, opts.split_reasoning, opts.usage_details)
    if entry is not None:
        payload["choices"][0]["message"] = {"role": "assistant", "content": entry["reply"]}
        payload["choices"][0]["finish_reason"] = "stop"
    state.answered[key] = state.answered.get(key, 0) + 1
    state.successes += 1
    return web.json_response(payload)


async def models(request: web.Request) -> web.Response:
    model = request.app["state"].opts.model
    return web.json_response({"object": "list", "data": [{"id": model, "object": "model", "owned_by": "test"}]})


async def stats(request: web.Request) -> web.Response:
    return web.json_response(request.app["state"].snapshot())


async def reset(request: web.Request) -> web.Response:
    request.app["state"].reset()
    return web.json_response({"ok": True})


async def control(request: web.Request) -> web.Response:
    opts = request.app["state"].opts
    for name, value in (await request.json()).items():
        if not hasattr(opts, name):
            return web.json_response({"error": f"unknown option {name}"}, status=400)
        setattr(opts, name, value)
    return web.json_response(vars(opts))


async def watchdog(max_lifetime: float) -> None:
    """Never outlive the test that started us: a time limit and a parent check."""
    parent, deadline = os.getppid(), time.monotonic() + max_lifetime
    while time.monotonic() < deadline and os.getppid() == parent:
        await asyncio.sleep(0.5)
    os._exit(3)


async def serve(opts: argparse.Namespace) -> None:
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app["state"] = State(opts)
    app.add_routes([web.get("/v1/models", models), web.post("/v1/chat/completions", chat),
                    web.get("/stats", stats), web.post("/reset", reset), web.post("/control", control)])
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", opts.port, backlog=1024)
    await site.start()
    port = runner.addresses[0][1]
    print(f"READY http://127.0.0.1:{port}", flush=True)
    await watchdog(opts.max_lifetime)


def main() -> None:
    logging.basicConfig(level=logging.CRITICAL)  # dropped connections make aiohttp log tracebacks
    asyncio.run(serve(options()))


if __name__ == "__main__":
    sys.exit(main())
