"""`distill generate --backend openai-batch|anthropic-batch` as a user runs it, against the local fakes: 1,000
requests in two shards submitted at once, a SIGKILL once the batch ids are checkpointed, and a re-run that
re-attaches (the fake counts that nothing new is submitted) and ends with every row exactly once; an upload the
API refuses is one line, exit 1."""

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
from support import distill_env, fake_batch_api
from support.cli import BENCHMARKS, distill


@pytest.fixture(scope="module")
def api():
    with fake_batch_api(max_lifetime=600) as server:
        yield server


@pytest.fixture(scope="module")
def prompts(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("batch") / "prompts"
    proc = distill("collect", BENCHMARKS / "gsm8k_test.jsonl", "-o", out, "--limit", "250", "-q")
    assert proc.returncode == 0, proc.stderr
    return out


def generate_args(prompts: Path, out: Path, provider: str, api) -> list[str]:
    return [sys.executable, "-m", "distill_cli", "generate", str(prompts), "-o", str(out), "--model", "teacher",
            "--backend", provider, "-n", "4", "--base-url", api.base_url, "--api-key", "test-key",
            "--poll-interval", "0.1", "--batch-max-requests", "300", "--rows-per-shard", "125", "--workers", "2", "-q"]


def checkpointed_batches(out: Path) -> list[dict]:
    """The batch ids of every shard (2 shards of 500 requests, each 2 batches, all submitted at once: --workers 2)."""
    return [b for f in out.glob("_work/*/batches.json") for b in json.loads(f.read_text())["batches"]]


@pytest.mark.slow
@pytest.mark.parametrize("provider", ["openai-batch", "anthropic-batch"])
def test_killed_after_submission_reattaches_and_ends_with_every_row_once(api, prompts, tmp_path, provider):
    api.reset()
    api.control(complete_after=4.0, expire_rate=0.0, fail_rate=0.0, upload_status=0)
    out = tmp_path / "traces"
    proc = subprocess.Popen(generate_args(prompts, out, provider, api), env=distill_env(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while len(checkpointed_batches(out)) < 4 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert len(checkpointed_batches(out)) == 4, proc.stderr.read() if proc.poll() is not None else "timeout"
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    proc.stderr.close()
    submitted = api.stats()
    assert submitted["batches_created"] == 4 and submitted["requests_submitted"] == 1000
    assert not list(out.glob("part-*.parquet"))  # killed while waiting: nothing downloaded yet

    rerun = subprocess.run(generate_args(prompts, out, provider, api), env=distill_env(), capture_output=True,
                           text=True, timeout=120)
    assert rerun.returncode == 0, rerun.stderr
    after = api.stats()
    assert after["batches_created"] == 4 and after["requests_submitted"] == 1000  # nothing submitted again
    assert set(after["submissions"].values()) == {1}
    traces = pl.read_parquet(out / "part-*.parquet")
    assert traces.height == 1000 and traces.select("id", "sample").n_unique() == 1000
    assert traces["id"].n_unique() == 250 and (traces["finish_reason"] == "stop").all()
    assert traces["response"].str.contains(r"\\boxed\{\d+\}").all() and traces["reasoning"].is_not_null().all()
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["complete"] is True
    assert manifest["stats"]["batch"]["batches_reattached"] == 4
    assert manifest["stats"]["batch"]["batches_submitted"] == 0 and manifest["stats"]["requests_sent"] == 0
    assert not (out / "_work").exists()


@pytest.mark.parametrize("provider", ["openai-batch", "anthropic-batch"])
def test_an_upload_error_exits_1_in_one_line_and_leaves_nothing_complete(api, prompts, tmp_path, provider):
    api.reset()
    api.control(upload_status=400, complete_after=0.0)
    out = tmp_path / "traces"
    proc = distill("generate", prompts, "-o", out, "--model", "teacher", "--backend", provider, "-n", "1",
                   "--base-url", api.base_url, "--api-key", "test-key", "--limit", "5", env=distill_env())
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "HTTP 400" in lines[0], proc.stderr
    assert api.stats()["uploads_refused"] == 1 and api.stats()["batches_created"] == 0
    assert not list(out.glob("part-*.parquet"))
    manifest = out / "_manifest.json"
    assert not manifest.exists() or json.loads(manifest.read_text())["complete"] is False


def test_a_batch_backend_without_a_key_is_refused_before_any_work(api, prompts, tmp_path):
    env = {k: v for k, v in distill_env().items() if k not in ("OPENAI_API_KEY", "DISTILL_API_KEY")}
    proc = subprocess.run([sys.executable, "-m", "distill_cli", "generate", str(prompts), "-o", str(tmp_path / "t"),
                           "--model", "m", "--backend", "openai-batch", "--base-url", api.base_url],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip() == ("Error: --backend openai-batch: no API key; set OPENAI_API_KEY or --api-key")
    assert not (tmp_path / "t").exists()


@pytest.mark.parametrize("extra, message", [
    (["--backend", "anthropic-batch", "--chat-template-kwargs", '{"enable_thinking": true}'],
     "Error: --chat-template-kwargs: not with --backend anthropic-batch"),
    (["--backend", "anthropic-batch", "--temperature", "1.5"],
     "Error: --temperature 1.5: at most 1 with --backend anthropic-batch"),
    (["--backend", "openai-batch", "--concurrency", "8"], "Error: --concurrency is read only with --backend openai"),
])
def test_options_a_batch_api_cannot_take_are_refused(api, prompts, tmp_path, extra, message):
    api.reset()
    proc = distill("generate", prompts, "-o", tmp_path / "t", "--model", "m", "--base-url", api.base_url,
                   "--api-key", "test-key", *extra, env=distill_env())
    assert proc.returncode == 2 and proc.stderr.startswith(message), proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
    assert api.stats()["batches_created"] == 0 and not (tmp_path / "t").exists()
