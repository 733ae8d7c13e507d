"""The shard driver: chunked checkpoints while results stream in, and resume that sends only what is missing.

The backend here is a small deterministic one implementing the Backend protocol (the real engines are covered by
tests/integration); checkpoints are real Parquet chunk files in tmp_path.
"""

from __future__ import annotations

import polars as pl
import pytest

from distill_cli.engines.types import Result, Sampling
from distill_cli.progress import Progress
from distill_cli.stagedir.checkpoint import ShardCheckpoint
from distill_cli.stagedir.runner import ShardTask
from distill_cli.stages.generate.core import GenerateConfig
from distill_cli.stages.generate.shard import generate_shard


class CountingBackend:
    """Answers each request with the sum it asks for; can stop (like a kill) after `stop_after` results."""

    model = "counting"

    def __init__(self, checkpoint: ShardCheckpoint, stop_after: int | None = None, fail_ids=()):
        self.checkpoint, self.stop_after, self.fail_ids = checkpoint, stop_after, set(fail_ids)
        self.requests_sent = 0
        self.sent_keys: list[str] = []
        self.chunks_seen: list[int] = []

    def generate(self, requests, on_result):
        for i, req in enumerate(requests):
            if self.stop_after is not None and i == self.stop_after:
                raise KeyboardInterrupt
            self.requests_sent += 1
            self.sent_keys.append(req.key)
            if req.id in self.fail_ids:
                on_result(Result(req, "", "error", 0, 0, error="HTTP 503 after 5 retries"))
            else:
                text = f"<think>\nadd them up, sample {req.sample}\n</think>\n\n\\boxed{{{len(req.id)}}}"
                on_result(Result(req, text, "stop", 30, 12, seed=0))
            self.chunks_seen.append(len(self.checkpoint.chunks()))

    def close(self):
        pass


def prompts(n: int) -> pl.DataFrame:
    return pl.DataFrame({"id": [f"id{i:02d}" for i in range(n)], "prompt": [f"What is {i} + {i}?" for i in range(n)],
                         "answer": [str(2 * i) for i in range(n)]})


CFG = GenerateConfig(model="counting", model_name="counting", n=3, sampling=Sampling(max_tokens=32, seed=0))


def task_for(tmp_path) -> ShardTask:
    return ShardTask(0, None, ShardCheckpoint(tmp_path / "_work" / "part-00000"), Progress("generate", 5, quiet=True))


def test_chunks_are_saved_while_results_stream(tmp_path):
    task = task_for(tmp_path)
    backend = CountingBackend(task.checkpoint)
    out, stats = generate_shard(prompts(5), task, CFG, lambda: backend, every=4, seconds=3600)
    # a chunk appears after every 4th result, before the remaining requests are answered
    assert backend.chunks_seen[:9] == [0, 0, 0, 1, 1, 1, 1, 2, 2]
    assert out.height == 15 and out.select("id", "sample").n_unique() == 15
    assert out["response"].to_list() == ["\\boxed{4}"] * 15 and out["reasoning"][0].startswith("add them up")
    assert stats["requests_sent"] == 15 and stats["resumed"] == 0
    assert stats["generated"]["completion_tokens"] == 15 * 12


def test_kill_then_resume_sends_exactly_the_missing(tmp_path):
    first = CountingBackend(task_for(tmp_path).checkpoint, stop_after=7)
    with pytest.raises(KeyboardInterrupt):
        generate_shard(prompts(5), task_for(tmp_path), CFG, lambda: first, every=4, seconds=3600)
    saved = set(task_for(tmp_path).checkpoint.load()["request_key"])
    assert saved == set(first.sent_keys) and len(saved) == 7  # the partial chunk was flushed on the way out

    second = CountingBackend(task_for(tmp_path).checkpoint)
    out, stats = generate_shard(prompts(5), task_for(tmp_path), CFG, lambda: second, every=4, seconds=3600)
    assert not saved & set(second.sent_keys) and len(second.sent_keys) == 8
    assert stats["requests_sent"] == 8 and stats["resumed"] == 7
    assert out.height == 15 and set(out["request_key"]) == saved | set(second.sent_keys)


def test_finished_shard_never_starts_a_backend(tmp_path):
    backend = CountingBackend(task_for(tmp_path).checkpoint)
    generate_shard(prompts(2), task_for(tmp_path), CFG, lambda: backend, every=100, seconds=3600)
    # everything is in the checkpoint now: a re-run must not ask for an engine at all
    out, stats = generate_shard(prompts(2), task_for(tmp_path), CFG, lambda: pytest.fail("engine started"))
    assert out.height == 6 and stats["requests_sent"] == 0 and stats["resumed"] == 6


def test_errors_are_rows_and_retried_next_run(tmp_path):
    flaky = CountingBackend(task_for(tmp_path).checkpoint, fail_ids={"id01"})
    out, stats = generate_shard(prompts(3), task_for(tmp_path), CFG, lambda: flaky, every=100, seconds=3600)
    bad = out.filter(pl.col("id") == "id01")
    assert bad["finish_reason"].to_list() == ["error"] * 3 and bad["error"][0] == "HTTP 503 after 5 retries"
    assert stats["errors"] == 3 and stats["finish_reasons"] == {"stop": 6, "error": 3}

    healthy = CountingBackend(task_for(tmp_path).checkpoint)
    out, stats = generate_shard(prompts(3), task_for(tmp_path), CFG, lambda: healthy, every=100, seconds=3600)
    assert {k for k in healthy.sent_keys} == set(bad["request_key"])  # only the failed ones are sent again
    assert stats["errors"] == 0 and out.height == 9 and out["error"].null_count() == 9
