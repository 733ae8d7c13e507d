"""`distill generate --backend openai` end to end: real `distill` processes against real servers on loopback.

The fault server tests prove by counting (the server's per-key success counters) that every (id, sample) is
answered exactly once, through faults and through a SIGKILL and resume. The vLLM tests share one `vllm serve` of the
bundled tiny model (one server start for the module), whose chat template opens `<think>` in the prompt when the
`open_think` chat-template kwarg asks, as R1-Distill's template always does (and Qwen3's on `enable_thinking`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # `tests.support` (no tests/__init__.py)

from tests.support import distill_env, fault_server, free_port, vllm_serve  # noqa: E402

DEMO = Path(__file__).resolve().parents[2] / "distill_cli" / "data" / "demo_gsm8k.jsonl"
MODEL = "fault-model"


def distill(*args, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "distill_cli", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=distill_env())


def collect(tmp_path: Path, n: int) -> Path:
    out = tmp_path / "prompts"
    proc = distill("collect", DEMO, "-o", out, "--limit", n, "-q")
    assert proc.returncode == 0, proc.stderr
    return out


def generate_args(prompts: Path, out: Path, base_url: str, model: str, *extra) -> list[str]:
    return ["generate", prompts, "-o", out, "--backend", "openai", "--base-url", base_url, "--model", model,
            *extra]


def traces(out: Path) -> pl.DataFrame:
    return pl.read_parquet(sorted(out.glob("part-*.parquet")))


def saved_keys(out: Path) -> set[str]:
    """request keys of the samples checkpointed so far (the chunks inside unfinished shards)."""
    chunks = sorted(out.glob("_work/*/chunk-*.parquet"))
    return set(pl.concat([pl.read_parquet(c, columns=["request_key"]) for c in chunks])["request_key"]) \
        if chunks else set()


@pytest.mark.slow
def test_cli_under_faults_answers_every_sample_once(tmp_path):
    prompts = collect(tmp_path, 8)
    rates = {"rate_429": 0.08, "rate_500": 0.08, "rate_503": 0.05, "rate_drop": 0.05, "rate_badjson": 0.04}
    with fault_server(seed=5, retry_after=0.2, **rates) as server:
        proc = distill(*generate_args(prompts, tmp_path / "traces", server.base_url, MODEL, "-n", 3,
                                      "--max-tokens", 64, "--max-retries", 10))
        stats = server.stats()
    assert proc.returncode == 0, proc.stderr
    df = traces(tmp_path / "traces")
    assert df.height == 24 and df.select("id", "sample").n_unique() == 24
    assert set(df["finish_reason"]) == {"stop"} and df["response"].str.contains(r"\\boxed\{").all()
    # the server answered exactly the 24 keys of the output, each once, although it faulted ~30% of attempts
    assert stats["answered"] == {k: 1 for k in df["request_key"]}
    assert sum(stats["faults"].values()) > 0 and stats["total_received"] == 24 + sum(stats["faults"].values())


@pytest.mark.slow
def test_sigkill_and_resume_sends_exactly_the_missing_samples(tmp_path):
    prompts, out = collect(tmp_path, 6), tmp_path / "traces"
    with fault_server(hold_after=5) as server:  # answers 5 requests, then holds every other one unanswered
        args = generate_args(prompts, out, server.base_url, MODEL, "-n", 2, "--max-tokens", 64,
                             "--concurrency", 4, "--checkpoint-every", 1)
        first = subprocess.Popen([sys.executable, "-m", "distill_cli", *map(str, args)], env=distill_env(),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        try:
            deadline = time.monotonic() + 120
            while len(saved_keys(out)) < 5 and first.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)
            assert first.poll() is None, first.stderr.read().decode()
        finally:
            if first.poll() is None:
                os.killpg(first.pid, signal.SIGKILL)
            first.wait()
        kept = saved_keys(out)
        answered_before = server.stats()["answered"]
        assert len(kept) == 5 and set(answered_before) == kept  # what was paid for before the kill is saved
        server.control(hold_after=None)  # the held requests of the dead client are dropped, never answered
        time.sleep(0.5)
        assert server.stats()["answered"] == answered_before
        server.reset()
        second = distill(*args)
        answered_after = server.stats()["answered"]
    assert second.returncode == 0, second.stderr
    df = traces(out)
    assert df.height == 12 and df.select("id", "sample").n_unique() == 12
    everything = set(df["request_key"])
    # the second run sent exactly the missing samples, each answered once: no sample was paid for twice
    assert answered_after == {k: 1 for k in everything - kept}
    assert not kept & set(answered_after)


@pytest.mark.slow
def test_unreachable_server_is_one_line_error(tmp_path):
    prompts = collect(tmp_path, 2)
    url = f"http://127.0.0.1:{free_port()}/v1"
    proc = distill(*generate_args(prompts, tmp_path / "traces", url, MODEL, "-n", 1, "--max-retries", 1))
    assert proc.returncode == 1
    assert proc.stderr.strip().startswith("Error: ") and url in proc.stderr
    assert not (tmp_path / "traces" / "_manifest.json").exists() or '"complete": true' not in (
        tmp_path / "traces" / "_manifest.json").read_text()


OPENING = "'<|im_start|>assistant\n' }}"


@pytest.fixture(scope="module")
def tiny_switch(tmp_path_factory) -> Path:
    """The bundled tiny model whose template renders as its own, or, given `open_think`, ends the generation prompt
    with `<think>\n` (R1-Distill's: the completion starts inside the thinking)."""
    from distill_cli.model import build_tiny

    tiny, out = build_tiny(), tmp_path_factory.mktemp("tiny-switch")
    for f in tiny.iterdir():
        if f.name != "chat_template.jinja":
            (out / f.name).symlink_to(f)
    template = (tiny / "chat_template.jinja").read_text()
    assert template.count(OPENING) == 1
    opened = OPENING + "{% if open_think is defined and open_think %}{{ '<think>\n' }}{% endif %}"
    (out / "chat_template.jinja").write_text(template.replace(OPENING, opened))
    return out


@pytest.fixture(scope="module")
def vllm_server(tmp_path_factory, tiny_switch):
    """`vllm serve` of `tiny_switch` on a free loopback port; killed with its engine process."""
    from distill_cli.model import TINY_NAME

    with vllm_serve(tiny_switch, TINY_NAME, tmp_path_factory.mktemp("vllm") / "serve.log",
                    health_timeout=600) as url:
        yield url, TINY_NAME


THINK_SAMPLING = ["-n", "1", "--temperature", "0", "--max-tokens", "24", "--chat-template-kwargs",
                  json.dumps({"open_think": True})]
THINK_COLUMNS = ["id", "sample", "completion", "reasoning", "response", "finish_reason", "completion_tokens"]


@pytest.mark.vllm
@pytest.mark.slow
def test_offline_and_served_backends_split_an_opened_think_the_same(tmp_path, tiny_switch, request):
    """Greedy, one real GSM8K problem (the tiny model reasons past 24 tokens: cut off) and one it answers at once,
    through the offline engine (a real `distill generate`) and then the module's server: the same columns."""
    src = tmp_path / "prompts.jsonl"
    short = {"question": "What is 2 + 2? Reply with the number only.", "answer": "#### 4"}
    src.write_text(DEMO.read_text().splitlines()[0] + "\n" + json.dumps(short) + "\n")
    prompts = tmp_path / "prompts"
    assert distill("collect", src, "-o", prompts, "-q").returncode == 0
    offline = distill("generate", prompts, "-o", tmp_path / "offline", "--model", tiny_switch, "--dtype",
                      "float32", "--enforce-eager", "--max-model-len", "1024", *THINK_SAMPLING, timeout=1200)
    assert offline.returncode == 0, offline.stderr[-3000:]
    base_url, name = request.getfixturevalue("vllm_server")  # started after the offline engine has exited
    served = distill(*generate_args(prompts, tmp_path / "served", base_url, name, *THINK_SAMPLING), timeout=600)
    assert served.returncode == 0, served.stderr[-3000:]
    a, b = (traces(tmp_path / d).sort("id", "sample") for d in ("offline", "served"))
    assert sorted(a["finish_reason"]) == ["length", "stop"]  # one cut-off sample, one finished
    for df in (a, b):
        # the thinking was opened by the prompt and never closed: all of it is reasoning, nothing is an answer
        assert (df["reasoning"] == df["completion"].str.strip_chars()).all() and (df["response"] == "").all()
    assert a.select(THINK_COLUMNS).equals(b.select(THINK_COLUMNS)), (a.select(THINK_COLUMNS), b.select(THINK_COLUMNS))
    # the offline engine counts reasoning tokens itself (all of them here); this server reports none: null, not 0
    assert (a["reasoning_tokens"] == a["completion_tokens"]).all() and b["reasoning_tokens"].is_null().all()


@pytest.mark.vllm
@pytest.mark.slow
def test_generate_against_vllm_serve(tmp_path, vllm_server):
    base_url, name = vllm_server
    prompts = collect(tmp_path, 4)
    proc = distill(*generate_args(prompts, tmp_path / "traces", base_url, name, "-n", 2, "--max-tokens", 48,
                                  "--seed", 1), timeout=600)
    assert proc.returncode == 0, proc.stderr
    df = traces(tmp_path / "traces")
    assert df.height == 8 and df.select("id", "sample").n_unique() == 8
    assert set(df["finish_reason"]) <= {"stop", "length"} and df["error"].is_null().all()
    assert (df["completion_tokens"] >= 1).all() and (df["completion_tokens"] <= 48).all()
    assert (df["prompt_tokens"] > 20).all() and (df["completion"].str.len_chars() > 0).all()
    assert set(df["seed"]) == {1, 2}  # one seed per sample, so the two samples of a prompt can differ


@pytest.mark.vllm
@pytest.mark.slow
def test_backend_against_vllm_serve_too_long_prompt_is_row_error(vllm_server):
    from distill_cli.engines.openai_backend import OpenAIBackend
    from distill_cli.engines.types import Request, Sampling

    base_url, name = vllm_server
    backend = OpenAIBackend(name, base_url, concurrency=2, timeout=120)
    backend.check()
    sampling = Sampling(temperature=0.0, max_tokens=8)
    long = Request("long", "long", 0, ({"role": "user", "content": "apple " * 3000},), sampling)
    short = Request("short", "short", 0, ({"role": "user", "content": "Say hi."},), sampling)
    results = {}
    backend.generate([long, short], lambda r: results.setdefault(r.request.key, r))
    assert results["long"].finish_reason == "error" and "1024" in results["long"].error
    assert results["short"].finish_reason in ("stop", "length") and results["short"].completion_tokens >= 1
    assert backend.stats["retries"] == {} and backend.requests_sent == 2


def served_tokens(base_url: str) -> dict[str, float]:
    """The server's own counters of prompt and generated tokens (its Prometheus /metrics)."""
    import httpx

    text = httpx.get(base_url.removesuffix("/v1") + "/metrics", timeout=30).text
    totals = {"prompt": 0.0, "completion": 0.0}
    for line in text.splitlines():
        for key, name in (("prompt", "vllm:prompt_tokens_total"), ("completion", "vllm:generation_tokens_total")):
            if line.startswith(name + "{") or line.startswith(name + " "):
                totals[key] += float(line.rsplit(" ", 1)[1])
    return totals


@pytest.mark.vllm
@pytest.mark.slow
def test_stats_hold_the_served_token_counts_and_their_cost(tmp_path, vllm_server):
    base_url, name = vllm_server
    prompts = collect(tmp_path, 4)
    before = served_tokens(base_url)
    proc = distill(*generate_args(prompts, tmp_path / "traces", base_url, name, "-n", 2, "--max-tokens", 24,
                                  "--price", "in=0.5,out=1.5"), timeout=600)
    assert proc.returncode == 0, proc.stderr
    after = served_tokens(base_url)
    st = json.loads((tmp_path / "traces" / "_stats.json").read_text())
    df = traces(tmp_path / "traces")
    # exactly what the server counted while serving this run, and the per-row usage adds up to it
    assert st["tokens"]["prompt"] == after["prompt"] - before["prompt"] == df["prompt_tokens"].sum() > 0
    assert st["tokens"]["completion"] == after["completion"] - before["completion"] == df["completion_tokens"].sum()
    assert df["cached_tokens"].is_null().all()  # this server reports no prompt-token details: unknown, not 0
    expected = (st["tokens"]["prompt"] * 0.5 + st["tokens"]["completion"] * 1.5) / 1e6
    assert st["cost"]["usd"] == pytest.approx(expected, abs=1e-6) and st["cost"]["price"]["input"] == 0.5


@pytest.mark.vllm
@pytest.mark.slow
def test_logprobs_from_vllm_serve_come_with_token_ids(vllm_server):
    """--logprobs over HTTP: the server's token ids (return_tokens_as_token_ids), top-K best first, greedy top-1."""
    import numpy as np

    from distill_cli.engines.openai_backend import OpenAIBackend
    from distill_cli.engines.types import Request, Sampling

    base_url, name = vllm_server
    backend = OpenAIBackend(name, base_url, concurrency=2, timeout=120)
    req = Request("lp", "lp", 0, ({"role": "user", "content": "What is 2 + 3?"},),
                  Sampling(temperature=0.0, max_tokens=12, logprobs=3))
    results = []
    backend.generate([req], results.append)
    (res,) = results
    lp = res.logprobs
    assert res.error is None and lp is not None and len(lp.token_ids) == res.completion_tokens > 0
    assert lp.topk_ids.shape == (len(lp.token_ids), 3) and (lp.topk_ids[:, 0] == lp.token_ids).all()
    assert np.allclose(lp.topk_logprobs[:, 0], lp.logprobs) and lp.prompt_ids is not None and len(lp.prompt_ids) > 5
