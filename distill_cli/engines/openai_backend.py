"""The `openai` backend: generation through any OpenAI-compatible chat server (`vllm serve`, SGLang, a proxy).

Requests run on an asyncio loop in a helper thread with at most `concurrency` in flight; each result is handed
to the calling thread as soon as it is finished, so the stage checkpoints while the rest are still running.
Transient failures (429, 5xx, timeouts, dropped connections, malformed JSON) are retried with exponential
backoff and full jitter, honouring Retry-After. A row's own failure (a 400 such as a prompt longer than the
context) or a row that keeps failing becomes a Result with finish_reason "error": recorded, never raised.
Failures that would hit every row alike (server gone, key refused, model unknown) stop the stage instead.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import random
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import replace

import httpx

from distill_cli.engines.retry import (
    FATAL_STATUSES,
    Retry,
    is_retryable_status,
    parse_retry_after,
    retry_delay,
)
from distill_cli.engines.server_prompt import opens_thinking
from distill_cli.engines.types import Request, Result
from distill_cli.engines.usage import usage_from_api
from distill_cli.errors import BadInput, StageFailure

API_KEY_ENV = ("DISTILL_API_KEY", "OPENAI_API_KEY")
KEY_HEADER = "X-Distill-Key"  # the request's resume key: lets server logs (and the test server) tell samples apart
LATENCY_BUCKETS = (0.1, 1.0, 10.0, 60.0)  # seconds; a histogram (not percentiles) so shard stats can be summed
_DONE = object()


def resolve_api_key(api_key: str | None) -> str | None:
    if api_key:
        return api_key
    for name in API_KEY_ENV:
        if os.environ.get(name):
            return os.environ[name]
    return None


def _server_message(resp: httpx.Response) -> str:
    """The human part of an error body: vLLM sends {"message": ...}, OpenAI {"error": {"message": ...}}."""
    try:
        body = resp.json()
    except ValueError:
        return resp.text.strip()[:500] or resp.reason_phrase
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])[:500]
        if body.get("message"):
            return str(body["message"])[:500]
        if isinstance(err, str):
            return err[:500]
    return json.dumps(body)[:500]


class _Fatal(Exception):
    """A failure every row would share; carried from the loop thread to the caller as a StageFailure."""


class OpenAIBackend:
    def __init__(
        self,
        model: str,
        base_url: str,
        api_key: str | None = None,
        concurrency: int = 64,
        timeout: float = 600.0,
        max_retries: int = 8,
        backoff_base: float = 0.5,
        backoff_max: float = 60.0,
    ):
        if concurrency < 1:
            raise BadInput(f"--concurrency: must be at least 1, got {concurrency}")
        if timeout <= 0:
            raise BadInput(f"--timeout: must be positive, got {timeout}")
        if not base_url.startswith(("http://", "https://")):
            raise BadInput(f"--base-url: expected http://HOST:PORT/v1, got {base_url!r}")
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.api_key = resolve_api_key(api_key)
        self.concurrency = concurrency
        self.timeout = timeout
        self.max_retries = max(0, max_retries)
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.requests_sent = 0
        self._rng = random.Random()
        self._latencies: list[float] = []
        self._counts: dict[str, dict[str, int]] = {"retries": {}, "errors": {}, "http_status": {}}
        self._ok = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._main: asyncio.Task | None = None
        self._stop = threading.Event()
        self._checked = False
        self._opens: dict[str, bool] = {}  # chat-template kwargs -> the rendered prompt ends inside <think>
        self._probe_lock: asyncio.Lock | None = None

    # ---- public -------------------------------------------------------------------------------------------

    def check(self, attempts: int = 3) -> None:
        """Fail fast, before any work is sent, when the server is unreachable, refuses us or lacks the model.

        generate() runs it once by itself; calling it earlier just moves the failure before other set-up.
        """
        url = f"{self.base_url}/models"
        last = ""
        for attempt in range(attempts):
            try:
                with httpx.Client(timeout=min(self.timeout, 10.0), headers=self._headers()) as client:
                    resp = client.get(url)
            except httpx.HTTPError as exc:
                last = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                if attempt + 1 < attempts:
                    time.sleep(min(self.backoff_max, self.backoff_base * 2**attempt))
                continue
            if resp.status_code in (401, 403):
                raise StageFailure(f"{url} refused the API key (HTTP {resp.status_code}); set DISTILL_API_KEY")
            if is_retryable_status(resp.status_code):
                last = f"HTTP {resp.status_code}: {_server_message(resp)}"
                continue
            if resp.status_code == 200:  # some proxies have no model list: reachable is enough then
                self._check_model(resp)
            self._checked = True
            return
        raise StageFailure(f"cannot reach the OpenAI-compatible server at {url} ({last}); is it running?")

    def generate(self, requests: Iterable[Request], on_result: Callable[[Result], None]) -> None:
        """Run every request; call on_result in this thread once per request, in completion order."""
        if not self._checked:
            self.check()
        out: queue.Queue = queue.Queue()
        self._stop.clear()
        thread = threading.Thread(target=self._thread_main, args=(iter(requests), out), daemon=True)
        thread.start()
        try:
            while (item := out.get()) is not _DONE:
                if isinstance(item, BaseException):
                    raise item
                on_result(item)
        finally:
            self._cancel()
            thread.join()

    def close(self) -> None:
        self._cancel()

    @property
    def stats(self) -> dict:
        """Counters that add up across shards: attempts, retries and errors by cause, HTTP statuses, latency."""
        hist = {f"le_{b:g}s": 0 for b in LATENCY_BUCKETS} | {f"gt_{LATENCY_BUCKETS[-1]:g}s": 0}
        for lat in self._latencies:
            label = next((f"le_{b:g}s" for b in LATENCY_BUCKETS if lat <= b), f"gt_{LATENCY_BUCKETS[-1]:g}s")
            hist[label] += 1
        return {
            "http_attempts": self.requests_sent,
            "http_ok": self._ok,
            "retries": dict(self._counts["retries"]),
            "errors": dict(self._counts["errors"]),
            "http_status": dict(self._counts["http_status"]),
            "latency_s_sum": round(sum(self._latencies), 3),
            "latency_hist": hist,
        }

    def latency_percentiles(self) -> dict[str, float]:
        """p50/p95/max of successful attempts, for a run summary (not summable, so not in `stats`)."""
        lat = sorted(self._latencies)
        if not lat:
            return {}
        return {"p50": lat[len(lat) // 2], "p95": lat[min(len(lat) - 1, int(len(lat) * 0.95))], "max": lat[-1]}

    # ---- request body and response --------------------------------------------------------------------------

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def _check_model(self, resp: httpx.Response) -> None:
        try:
            served = [m["id"] for m in resp.json().get("data", [])]
        except (ValueError, AttributeError, KeyError, TypeError):
            return  # a server without a usable model list: let the first request tell
        if served and self.model not in served:
            raise BadInput(f"--model {self.model}: not served by {self.base_url} (it serves: {', '.join(served)})")

    def _path_hint(self, status: int) -> str:
        """A 404 from a URL without /v1 is almost always a base URL missing it (vLLM, SGLang, OpenAI all use it)."""
        if status != 404 or re.search(r"/v\d+$", httpx.URL(self.base_url).path.rstrip("/")):
            return ""
        return f"; the --base-url path likely lacks /v1 (try --base-url {self.base_url}/v1)"

    def request_seed(self, req: Request) -> int | None:
        """One seed per sample: the same seed for every sample of a prompt would make the samples identical."""
        seed = req.sampling.seed
        return None if seed is None else seed + req.sample

    def body(self, req: Request) -> dict:
        s = req.sampling
        body: dict = {
            "model": self.model,
            "messages": list(req.messages),
            "temperature": s.temperature,
            "top_p": s.top_p,
            "max_tokens": s.max_tokens,
            "n": 1,
        }
        # Extra fields vLLM accepts; sent only when set, since strict servers reject unknown fields.
        if s.top_k is not None and s.top_k > 0:
            body["top_k"] = s.top_k
        if (seed := self.request_seed(req)) is not None:
            body["seed"] = seed
        if req.chat_template_kwargs:
            body["chat_template_kwargs"] = dict(req.chat_template_kwargs)
        if s.logprobs is not None:
            from distill_cli.engines.openai_logprobs import request_fields

            body |= request_fields(s.logprobs)
        return body

    def _parse(self, req: Request, resp: httpx.Response) -> Result | Retry:
        try:
            data = resp.json()
            choice = data["choices"][0]
            msg = choice["message"]
            text = msg.get("content") or ""
            reasoning = msg.get("reasoning_content") or msg.get("reasoning")
            usage = usage_from_api(data.get("usage"))
            logprobs = self._logprobs(req, data, choice)
            return Result(
                request=req,
                text=text,
                finish_reason=choice.get("finish_reason") or "stop",
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                reasoning_content=reasoning,
                seed=self.request_seed(req),
                cached_tokens=usage.cached_tokens,
                reasoning_tokens=usage.reasoning_tokens,
                logprobs=logprobs,
            )
        except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            return Retry("bad_json", f"unusable response body ({type(exc).__name__}): {resp.text[:200]!r}")

    def _logprobs(self, req: Request, data: dict, choice: dict):
        """With --logprobs: the tokens, logprobs and top-K; a server without them stops the stage (every row alike)."""
        if req.sampling.logprobs is None:
            return None
        from distill_cli.engines.openai_logprobs import NoLogprobs, parse

        try:
            return parse(data, choice, req.sampling.logprobs)
        except NoLogprobs as exc:
            raise _Fatal(f"--logprobs with {self.base_url}: {exc}") from None

    def _error(self, req: Request, cause: str, message: str) -> Result:
        self._count("errors", cause)
        return Result(req, "", "error", 0, 0, error=message, seed=self.request_seed(req))

    def _count(self, group: str, key: str) -> None:
        self._counts[group][key] = self._counts[group].get(key, 0) + 1

    # ---- the loop thread ------------------------------------------------------------------------------------

    def _thread_main(self, requests, out: queue.Queue) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._main = loop.create_task(self._run(requests, out))
            loop.run_until_complete(self._main)
        except asyncio.CancelledError:
            pass
        except _Fatal as exc:
            out.put(StageFailure(str(exc)))
        except BaseException as exc:  # the request iterator's own error: the caller should see it
            out.put(exc)
        finally:
            self._loop = None
            loop.close()
            out.put(_DONE)

    def _cancel(self) -> None:
        self._stop.set()
        loop, main = self._loop, self._main
        if loop is not None and main is not None and not main.done():
            try:
                loop.call_soon_threadsafe(main.cancel)
            except RuntimeError:  # the loop closed meanwhile
                pass

    async def _run(self, requests, out: queue.Queue) -> None:
        limits = httpx.Limits(max_connections=self.concurrency, max_keepalive_connections=self.concurrency)
        timeout = httpx.Timeout(self.timeout, connect=min(self.timeout, 30.0))
        sem = asyncio.Semaphore(self.concurrency)
        tasks: set[asyncio.Task] = set()
        failure: list[BaseException] = []

        def done(task: asyncio.Task) -> None:
            tasks.discard(task)
            sem.release()
            if not task.cancelled() and task.exception() is not None and not failure:
                failure.append(task.exception())
                for other in tasks:
                    other.cancel()

        self._probe_lock = asyncio.Lock()  # of this loop: a backend runs one loop per generate() call
        async with httpx.AsyncClient(headers=self._headers(), timeout=timeout, limits=limits) as client:
            try:
                for req in requests:
                    await sem.acquire()
                    if failure or self._stop.is_set():
                        break
                    task = asyncio.create_task(self._one(client, req, out))
                    tasks.add(task)
                    task.add_done_callback(done)
                while tasks and not failure:
                    await asyncio.wait(set(tasks))
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        if failure:
            raise failure[0]

    async def _one(self, client: httpx.AsyncClient, req: Request, out: queue.Queue) -> None:
        body = self.body(req)
        for attempt in range(self.max_retries + 1):
            outcome = await self._attempt(client, req, body)
            if isinstance(outcome, Result):
                if outcome.error is None and outcome.reasoning_content is None:
                    outcome = replace(outcome, think_open=await self._opens_thinking(client, req))
                out.put(outcome)
                return
            if attempt < self.max_retries:
                self._count("retries", outcome.cause)
                await asyncio.sleep(
                    retry_delay(attempt, outcome.retry_after, self.backoff_base, self.backoff_max, self._rng)
                )
        if outcome.cause == "connect":
            tries = f"could not connect after {self.max_retries + 1} attempts ({outcome.detail})"
            if not self._ok:
                raise _Fatal(f"cannot reach the OpenAI-compatible server at {self.base_url}: {tries}; is it running?")
            raise _Fatal(f"lost the server at {self.base_url}: {tries}; finished rows are saved, re-run to resume")
        out.put(self._error(req, "retries_exhausted", f"gave up after {attempt + 1} attempts: "
                                                     f"{outcome.cause}: {outcome.detail}"))

    async def _opens_thinking(self, client: httpx.AsyncClient, req: Request) -> bool:
        """Whether the server's template ends the prompt with `<think>` (asked once per chat-template kwargs), so
        the completion is split by the same rule as the offline engine's; False when the server cannot say."""
        key = json.dumps(req.chat_template_kwargs, sort_keys=True, default=str)
        if key not in self._opens:
            async with self._probe_lock:
                if key not in self._opens:
                    found = await opens_thinking(client, self.base_url, self.model, list(req.messages),
                                                 dict(req.chat_template_kwargs))
                    self._opens[key] = bool(found)
        return self._opens[key]

    async def _attempt(self, client: httpx.AsyncClient, req: Request, body: dict) -> Result | Retry:
        self.requests_sent += 1
        start = time.perf_counter()
        try:
            async with asyncio.timeout(self.timeout):
                resp = await client.post(
                    f"{self.base_url}/chat/completions", json=body, headers={KEY_HEADER: req.key}
                )
        except (TimeoutError, httpx.TimeoutException):
            return Retry("timeout", f"no answer within {self.timeout:g}s")
        except httpx.ConnectError as exc:
            return Retry("connect", str(exc) or type(exc).__name__)
        except httpx.TransportError as exc:  # the server dropped the connection mid-request
            return Retry("disconnect", str(exc) or type(exc).__name__)
        status = resp.status_code
        self._count("http_status", str(status))
        if status == 200:
            outcome = self._parse(req, resp)
            if isinstance(outcome, Result):
                self._ok += 1
                self._latencies.append(time.perf_counter() - start)
            return outcome
        message = _server_message(resp)
        if is_retryable_status(status):
            return Retry(f"http_{status}", message, parse_retry_after(resp.headers.get("retry-after")))
        if status in FATAL_STATUSES or (status == 400 and req.sampling.logprobs is not None and "logprob" in
                                        message.lower()):  # the server's limit on top_logprobs: every row alike
            raise _Fatal(f"{self.base_url}/chat/completions answered HTTP {status} for --model {self.model}: "
                         f"{message}{self._path_hint(status)}")
        return self._error(req, f"http_{status}", f"HTTP {status}: {message}")
