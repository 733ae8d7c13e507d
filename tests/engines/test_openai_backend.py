"""The openai backend against a real fault-injecting server process on loopback (no vLLM needed)."""

from __future__ import annotations

import random
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # `tests.support` (no tests/__init__.py)

from distill_cli.engines.openai_backend import OpenAIBackend  # noqa: E402
from distill_cli.engines.retry import backoff_delay, parse_retry_after, retry_delay  # noqa: E402
from distill_cli.engines.types import Request, Result, Sampling  # noqa: E402
from distill_cli.errors import BadInput, StageFailure  # noqa: E402
from tests.support import fault_server, free_port  # noqa: E402

MODEL = "fault-model"


def make_requests(n_prompts: int, n_samples: int = 1, sampling: Sampling = Sampling(max_tokens=64), **kw):
    out = []
    for i in range(n_prompts):
        for s in range(n_samples):
            msgs = ({"role": "user", "content": f"What is {i} + {i}?"},)
            out.append(Request(key=f"p{i}-s{s}", id=f"p{i}", sample=s, messages=msgs, sampling=sampling, **kw))
    return out


def run(backend: OpenAIBackend, requests) -> list[Result]:
    results: list[Result] = []
    backend.generate(requests, results.append)
    return results


def fast_backend(base_url: str, **kw) -> OpenAIBackend:
    kw = {"concurrency": 16, "timeout": 5.0, "max_retries": 10, "backoff_base": 0.01, "backoff_max": 0.1} | kw
    return OpenAIBackend(MODEL, base_url, **kw)


@pytest.mark.slow
def test_every_request_finishes_exactly_once_under_faults():
    rates = {"rate_429": 0.06, "rate_500": 0.06, "rate_503": 0.06, "rate_drop": 0.05, "rate_badjson": 0.05,
             "rate_slow": 0.02}
    with fault_server(seed=7, retry_after=0.2, slow_seconds=10, **rates) as server:
        # 2 s: well past an answer even on a loaded machine (a late answer would count as paid twice)
        backend = fast_backend(server.base_url, timeout=2.0)
        backend.check()
        requests = make_requests(100, n_samples=2)
        threads, results = set(), []

        def on_result(result: Result) -> None:
            threads.add(threading.get_ident())
            results.append(result)

        backend.generate(requests, on_result)
        stats = server.stats()

    keys = Counter(r.request.key for r in results)
    assert set(keys) == {r.key for r in requests} and set(keys.values()) == {1}
    assert threads == {threading.get_ident()}  # on_result runs in the caller's thread
    assert {r.finish_reason for r in results} == {"stop"}
    assert len({r.text for r in results}) == 200 and all("\\boxed{" in r.text for r in results)
    assert all(r.prompt_tokens > 0 and r.completion_tokens > 0 for r in results)
    # the server answered each key successfully once: nothing was paid for twice
    assert stats["answered"] == {k: 1 for k in keys}
    # every attempt the server saw was counted by the client, and every fault shows up as a retry of its cause
    faults, retries = stats["faults"], backend.stats["retries"]
    assert backend.requests_sent == stats["total_received"] == 200 + sum(retries.values())
    assert sum(faults.values()) > 40  # ~30% of the first attempts alone
    expected = {"429": "http_429", "500": "http_500", "503": "http_503", "drop": "disconnect",
                "badjson": "bad_json", "slow": "timeout"}
    assert {expected[k]: v for k, v in faults.items()} == retries
    assert backend.stats["http_ok"] == 200 and backend.stats["errors"] == {}


@pytest.mark.parametrize("date", [False, pytest.param(True, marks=pytest.mark.slow)], ids=["seconds", "http-date"])
def test_retry_after_is_honoured(date):
    # Retry-After as an HTTP date has 1 s resolution: ask for 2 s, so at least 1 s remains after truncation
    wait = 2.0 if date else 1.0
    with fault_server(seed=3, rate_429=0.3, retry_after=wait, retry_after_date=date) as server:
        results = run(fast_backend(server.base_url), make_requests(8))
        events = server.stats()["events"]
    assert {r.finish_reason for r in results} == {"stop"}
    gaps = []
    for evs in events.values():
        for (t, outcome, _), (t_next, _, _) in zip(evs, evs[1:], strict=False):
            if outcome == "429":
                gaps.append(t_next - t)
    assert gaps, "the seed should make some first attempts get a 429"
    assert min(gaps) >= (0.95 if date else 1.0)


def test_bad_request_is_a_row_error_not_retried():
    with fault_server(max_prompt_chars=100) as server:
        requests = make_requests(3)
        long = Request("long-0", "long", 0, ({"role": "user", "content": "x" * 500},), Sampling(max_tokens=64))
        results = {r.request.key: r for r in run(fast_backend(server.base_url), [*requests, long])}
        received = server.stats()["received"]
    bad = results.pop("long-0")
    assert bad.finish_reason == "error" and bad.text == "" and "maximum context length" in bad.error
    assert received["long-0"] == 1  # a 400 is the row's fault: not retried
    assert all(r.finish_reason == "stop" and r.error is None for r in results.values())


def test_exhausted_retries_give_an_error_row():
    with fault_server(rate_500=1.0) as server:
        backend = fast_backend(server.base_url, max_retries=2)
        results = run(backend, make_requests(2))
        received = server.stats()["received"]
    assert [r.finish_reason for r in results] == ["error", "error"]
    assert all("gave up after 3 attempts" in r.error and "injected 500" in r.error for r in results)
    assert received == {"p0-s0": 3, "p1-s0": 3}
    assert backend.stats["errors"] == {"retries_exhausted": 2} and backend.stats["retries"] == {"http_500": 4}


def test_404_from_a_base_url_without_v1_hints_at_the_missing_v1():
    with fault_server() as server:
        root = server.base_url.removesuffix("/v1")  # what users type from a `vllm serve` log: host and port only
        with pytest.raises(StageFailure, match=rf"HTTP 404 .*likely lacks /v1 \(try --base-url {root}/v1\)"):
            run(fast_backend(root), make_requests(2))
        with pytest.raises(StageFailure, match="HTTP 404") as other:  # a versioned path that 404s: no such hint
            run(fast_backend(f"{root}/v2"), make_requests(2))
        assert "/v1" not in str(other.value)
        assert [r.finish_reason for r in run(fast_backend(f"{root}/v1"), make_requests(2))] == ["stop", "stop"]


def test_unreachable_server_fails_check_with_the_url():
    port = free_port()
    backend = fast_backend(f"http://127.0.0.1:{port}/v1")
    with pytest.raises(StageFailure, match=rf"http://127\.0\.0\.1:{port}/v1/models"):
        backend.check()


def test_unreachable_server_fails_generate_before_any_row():
    backend = fast_backend(f"http://127.0.0.1:{free_port()}/v1", max_retries=2)
    seen = []
    with pytest.raises(StageFailure, match="cannot reach the OpenAI-compatible server"):
        backend.generate(make_requests(5), seen.append)
    assert seen == [] and backend.requests_sent == 0  # no fake error rows for a server that is simply down


def test_server_gone_after_check_stops_the_stage():
    with fault_server() as server:
        backend = fast_backend(server.base_url, max_retries=2)
        backend.check()
    seen = []
    with pytest.raises(StageFailure, match="cannot reach .* could not connect after 3 attempts"):
        backend.generate(make_requests(5), seen.append)
    assert seen == [] and 3 <= backend.requests_sent <= 15  # it stopped at the first request out of retries


def test_server_dying_mid_run_stops_the_stage_after_delivering_what_finished():
    with fault_server(latency=0.05) as server:
        backend = fast_backend(server.base_url, concurrency=2, max_retries=2)
        seen = []

        def on_result(result: Result) -> None:
            seen.append(result)
            if len(seen) == 3:
                server.proc.kill()
                server.proc.wait()

        with pytest.raises(StageFailure, match="lost the server at .*re-run to resume"):
            backend.generate(make_requests(20), on_result)
    assert len(seen) >= 3 and len({r.request.key for r in seen}) == len(seen)
    assert all(r.finish_reason == "stop" for r in seen)  # no error rows for a server that went away


def test_unknown_model_fails_check():
    with fault_server(model="served-model") as server:
        with pytest.raises(BadInput, match="served-model"):
            fast_backend(server.base_url).check()


def test_request_body_carries_sampling_and_key(monkeypatch):
    monkeypatch.setenv("DISTILL_API_KEY", "sk-test")
    sampling = Sampling(temperature=0.7, top_p=0.9, top_k=20, max_tokens=5, seed=11)
    with fault_server() as server:
        results = run(fast_backend(server.base_url),
                      make_requests(1, n_samples=2, sampling=sampling, chat_template_kwargs={"enable_thinking": True}))
        stats = server.stats()
    body = stats["bodies"]["p0-s1"]
    assert body["temperature"] == 0.7 and body["top_p"] == 0.9 and body["top_k"] == 20 and body["n"] == 1
    assert body["max_tokens"] == 5 and body["chat_template_kwargs"] == {"enable_thinking": True}
    assert body["seed"] == 12 and stats["bodies"]["p0-s0"]["seed"] == 11  # distinct seed per sample
    assert stats["auth"]["p0-s0"] == "Bearer sk-test"
    assert {r.finish_reason for r in results} == {"length"} and {r.seed for r in results} == {11, 12}


def test_logprobs_from_a_server_without_them_stop_the_stage_in_one_line():
    """The fault server is OpenAI-like: no logprobs in its answers. Asked for them, the backend stops at once."""
    with fault_server() as server:
        backend = fast_backend(server.base_url)
        with pytest.raises(StageFailure, match="the server returned no logprobs"):
            run(backend, make_requests(3, sampling=Sampling(max_tokens=8, logprobs=2)))
        body = server.stats()["bodies"]["p0-s0"]
    assert body["logprobs"] is True and body["top_logprobs"] == 2 and body["return_tokens_as_token_ids"] is True


def test_split_reasoning_is_read():
    with fault_server(split_reasoning=True) as server:
        (result,) = run(fast_backend(server.base_url), make_requests(1))
    assert result.reasoning_content.startswith("Request ") and result.text.startswith("The answer is \\boxed{")


def test_on_result_error_propagates_and_stops_the_loop():
    with fault_server(latency=0.05) as server:
        backend = fast_backend(server.base_url, concurrency=4)
        before = threading.active_count()

        def boom(result):
            raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            backend.generate(make_requests(50), boom)
        assert threading.active_count() == before
        assert server.stats()["total_received"] < 50  # the rest were never sent


def test_retry_after_parsing_and_backoff_bounds():
    assert parse_retry_after("3") == 3.0 and parse_retry_after(" 0.5 ") == 0.5
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412500.0) == 0.0  # in the past
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None
    assert parse_retry_after("999999") == 600.0
    rng = random.Random(0)
    delays = [backoff_delay(a, 0.5, 60, rng) for a in range(20) for _ in range(50)]
    assert 0 <= min(delays) and max(delays) <= 60
    assert max(backoff_delay(0, 0.5, 60, rng) for _ in range(100)) <= 0.5
    assert all(retry_delay(0, 2.0, 0.5, 60, rng) >= 2.0 for _ in range(100))
