"""The batch backends against the local fakes of both batch APIs (a real server process on loopback): results map
back by custom_id, batches respect the limits, an expired or failed request is resubmitted once and then becomes
an error row, token usage is the API's, and a backend re-attaches to checkpointed batches instead of resubmitting."""

from __future__ import annotations

import json

import pytest
from support import fake_batch_api

from distill_cli.engines.anthropic_batch import AnthropicBatchBackend
from distill_cli.engines.batch_common import STATE_FILE, BatchLimits, BatchState, split_batches
from distill_cli.engines.openai_batch import OpenAIBatchBackend
from distill_cli.engines.types import Request, Result, Sampling
from distill_cli.errors import BadInput, StageFailure
from distill_cli.stages.generate.keys import request_key

BACKENDS = {"openai-batch": OpenAIBatchBackend, "anthropic-batch": AnthropicBatchBackend}
PROVIDERS = list(BACKENDS)


@pytest.fixture(scope="module")
def api():
    with fake_batch_api(max_lifetime=600) as server:
        yield server


@pytest.fixture
def fake(api):
    api.reset()
    api.control(complete_after=0.0, expire_rate=0.0, expire_times=1, fail_rate=0.0, fail_times=1, upload_status=0)
    return api


def requests(n: int, tag: str = "") -> list[Request]:
    sampling = Sampling(temperature=0.7, top_p=0.9, max_tokens=64, seed=3)
    out = []
    for i in range(n):
        messages = ({"role": "system", "content": "Be brief."}, {"role": "user", "content": f"{tag}What is {i}+1?"})
        out.append(Request(request_key(f"p{i}", 0, messages, sampling, "m"), f"p{i}", 0, messages, sampling))
    return out


def backend(provider: str, fake, **limits) -> OpenAIBatchBackend | AnthropicBatchBackend:
    return BACKENDS[provider](f"{provider}-model", fake.base_url, "test-key",
                              BatchLimits(limits.get("max_requests", 1000), limits.get("max_bytes", 10**7)),
                              poll_interval=0.05, max_retries=1, backoff_base=0.01)


def run(b, reqs: list[Request], work_dir=None) -> dict[str, Result]:
    """Every result of one generate() call; with work_dir, as a shard run that checkpoints its batch ids."""
    got: dict[str, Result] = {}
    runner = b.for_shard(work_dir) if work_dir is not None else b

    def on_result(res: Result) -> None:
        assert res.request.key not in got, "a request delivered twice"
        got[res.request.key] = res

    try:
        runner.generate(reqs, on_result)
    finally:
        b.close()
    return got


def with_rate(fake, kind: str, times: int, reqs: list[Request]) -> set[str]:
    """Pick a rate that makes some but not all requests fail; the keys it picks (by the fake's own rule)."""
    from support.fake_batch_api import picked

    fake.control(**{f"{kind}_rate": 0.2, f"{kind}_times": times})
    keys = {r.key for r in reqs if picked(0, r.key, kind if kind == "expire" else "fail", 0.2)}
    assert 0 < len(keys) < len(reqs)
    return keys


@pytest.mark.parametrize("provider", PROVIDERS)
def test_every_request_maps_back_by_custom_id_with_the_apis_usage(fake, tmp_path, provider):
    from support.fake_batch_api import answer_text, usage_of

    reqs = requests(30)
    got = run(backend(provider, fake, max_requests=8), reqs, tmp_path)
    assert set(got) == {r.key for r in reqs}
    for r in reqs:
        res = got[r.key]
        thinking, answer = answer_text(r.key)  # the fake's answer for exactly this custom_id
        assert res.error is None and res.finish_reason == "stop"
        assert answer in res.text and thinking in (res.reasoning_content or res.text)
        sent = [m for m in r.messages if provider == "openai-batch" or m["role"] != "system"]
        usage = usage_of({"messages": sent})  # what the fake reported for this request
        assert (res.prompt_tokens, res.completion_tokens) == (usage["prompt"], usage["completion"])
        if "cached_tokens" in Result.__dataclass_fields__:  # the per-row token columns (issue 18 item 2)
            assert res.cached_tokens == usage["cached"]  # Anthropic: input_tokens + cache reads = prompt tokens
            assert res.reasoning_tokens == (usage["reasoning"] if provider == "openai-batch" else None)
    stats = fake.stats()
    assert stats["batches_created"] == 4 and stats["requests_submitted"] == 30  # 8+8+8+6
    assert b"Be brief." not in json.dumps(stats).encode()  # stats carry no bodies (sanity of the fake)
    state = json.loads((tmp_path / STATE_FILE).read_text())["batches"]
    assert len(state) == 4 and all(b["delivered"] for b in state)
    assert sorted(k for b in state for k in b["keys"]) == sorted(r.key for r in reqs)


@pytest.mark.parametrize("provider", PROVIDERS)
@pytest.mark.parametrize("kind", ["expire", "fail"])
def test_a_request_that_fails_once_is_resubmitted_once_and_succeeds(fake, provider, kind):
    reqs = requests(40, tag=kind)
    unlucky = with_rate(fake, kind, 1, reqs)
    b = backend(provider, fake)
    got = run(b, reqs)
    assert all(got[r.key].error is None for r in reqs)
    subs = fake.stats()["submissions"]
    assert {k for k, n in subs.items() if n == 2} == unlucky and all(subs[r.key] <= 2 for r in reqs)
    name = "expired" if kind == "expire" else "failed"
    assert b.batch_stats["resubmitted"] == {name: len(unlucky)} and b.batch_stats["errors"] == {}
    assert b.requests_sent == len(reqs) + len(unlucky)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_request_that_expires_twice_is_an_error_row(fake, provider):
    reqs = requests(40, tag="twice")
    unlucky = with_rate(fake, "expire", 2, reqs)
    b = backend(provider, fake)
    got = run(b, reqs)
    errors = {k for k, res in got.items() if res.finish_reason == "error"}
    assert errors == unlucky and len(got) == len(reqs)
    assert all("expired twice" in got[k].error for k in errors)
    assert all(n == (2 if k in unlucky else 1) for k, n in fake.stats()["submissions"].items())
    assert b.batch_stats["resubmitted"] == {"expired": len(unlucky)}
    assert b.batch_stats["errors"] == {"expired": len(unlucky)}


@pytest.mark.parametrize("provider", PROVIDERS)
def test_a_new_backend_reattaches_to_checkpointed_batches(fake, tmp_path, provider):
    """The state a killed run leaves (batches submitted, not delivered) is picked up, not submitted again;
    requests whose results were already saved are not asked for again."""
    fake.control(complete_after=0.3)
    reqs = requests(20, tag="attach")
    first = backend(provider, fake, max_requests=5)
    first.for_shard(tmp_path)._submit_all(reqs, 1, BatchState(tmp_path / STATE_FILE))  # what a run does first
    first.close()
    assert fake.stats()["batches_created"] == 4
    second = backend(provider, fake, max_requests=5)
    shard = second.for_shard(tmp_path)
    got: dict[str, Result] = {}
    shard.generate(reqs[3:], lambda res: got.setdefault(res.request.key, res))  # 3 were saved before the kill
    second.close()
    assert set(got) == {r.key for r in reqs[3:]} and all(r.error is None for r in got.values())
    assert fake.stats()["batches_created"] == 4 and fake.stats()["requests_submitted"] == 20
    assert shard.batch_stats["batches_reattached"] == 4 and shard.requests_sent == 0


@pytest.mark.parametrize("provider", PROVIDERS)
def test_an_upload_refused_stops_with_one_line(fake, tmp_path, provider):
    fake.control(upload_status=400)
    with pytest.raises(StageFailure, match="upload refused by the fake") as err:
        run(backend(provider, fake), requests(3), tmp_path)
    assert "\n" not in str(err.value) and "HTTP 400" in str(err.value)
    assert not (tmp_path / STATE_FILE).exists()  # nothing was submitted, so nothing to re-attach to


def test_no_api_key_is_bad_input(fake, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    with pytest.raises(BadInput, match="no API key; set ANTHROPIC_API_KEY or --api-key"):
        AnthropicBatchBackend("m", fake.base_url, None, BatchLimits(10, 10**6))


def test_split_respects_requests_and_bytes():
    lines = [(f"k{i}", b"x" * 99) for i in range(10)]  # 100 bytes each with the newline
    assert [len(b) for b in split_batches(lines, BatchLimits(4, 10**6))] == [4, 4, 2]
    assert [len(b) for b in split_batches(lines, BatchLimits(100, 350))] == [3, 3, 3, 1]
    with pytest.raises(BadInput, match="over the batch limit"):
        split_batches([("big", b"x" * 2000)], BatchLimits(10, 1024))
