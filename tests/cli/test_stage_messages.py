"""What a stage says when it is re-run, refused or run as one shard task: the lines a Slurm or Make log shows."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # `tests.support` (no tests/__init__.py)

from tests.support import fault_server  # noqa: E402


def _said(proc) -> str:
    """stderr on one line (a summary may be wrapped on a narrow terminal)."""
    return " ".join(proc.stderr.split())


def _gsm8k_traces(benchmarks: Path, path: Path, n: int = 6) -> Path:
    """n real GSM8K problems answered by a teacher that is right on every other one."""
    rows = [json.loads(line) for line in (benchmarks / "gsm8k_test.jsonl").read_text().splitlines()[:n]]
    answers = [r["answer"].rsplit("####", 1)[1].strip() for r in rows]
    pl.DataFrame({
        "id": [f"gsm8k-{i}" for i in range(n)], "prompt": [r["question"] for r in rows], "answer": answers,
        "model": ["teacher"] * n, "sample": [0] * n, "domain": ["math"] * n,
        "response": [f"So the answer is \\boxed{{{a if i % 2 == 0 else '-1'}}}." for i, a in enumerate(answers)],
    }).write_parquet(path)
    return path


@pytest.mark.slow  # four runs of the command
def test_verify_shard_tasks_rerun_and_conflict_say_what_happened(tmp_path, run_distill, benchmarks):
    src, out = _gsm8k_traces(benchmarks, tmp_path / "traces.parquet"), tmp_path / "verified"
    args = ("verify", src, "-o", out, "--rows-per-shard", "2")  # 3 output shards: task 0/2 owns 0 and 2
    first = run_distill(*args, "--shard", "0/2")
    assert first.returncode == 0, first.stderr
    assert _said(first) == (f"verify: shard 0/2: wrote 2 of its 2 output shard(s), 4 rows (3 shards in the stage): "
                            f"correct 2, incorrect 2 -> {out} (other shards pending)")
    last = run_distill(*args, "--shard", "1/2")
    assert _said(last) == (f"verify: shard 1/2: wrote 1 of its 1 output shard(s), 2 rows (3 shards in the stage); "
                           f"the stage is complete: correct 3, incorrect 3 -> {out}")
    again = run_distill(*args)
    assert again.returncode == 0
    assert _said(again) == (f"verify: already complete, 6 rows in 3 shard(s) (correct 3, incorrect 3) -> {out}; "
                            "nothing to do (--overwrite redoes it)")
    other = run_distill(*args, "--timeout", "10")
    assert other.returncode == 2
    # the form the README shows
    assert _said(other) == (f"Error: {out}: holds a verify run with other params (changed: timeout 5.0 -> 10.0); "
                            "pass --overwrite to replace it")


@pytest.mark.slow  # four runs of the command against a real server on loopback
def test_generate_rerun_says_complete_and_conflict_names_the_sampling_change(tmp_path, run_distill, benchmarks):
    prompts, out = tmp_path / "prompts", tmp_path / "traces"
    assert run_distill("collect", benchmarks / "gsm8k_test.jsonl", "-o", prompts, "--limit", "3",
                       "-q").returncode == 0
    with fault_server() as server:
        args = ("generate", prompts, "-o", out, "--backend", "openai", "--base-url", server.base_url, "--model",
                "fault-model", "-n", "2", "--max-tokens", "64")
        assert run_distill(*args).returncode == 0
        sent = sum(server.stats()["received"].values())
        again = run_distill(*args)
        other = run_distill(*args, "--temperature", "0.7", "--top-p", "0.9")
        assert sum(server.stats()["received"].values()) == sent == 6
    assert again.returncode == 0
    assert _said(again) == (f"generate: already complete, 6 rows in 1 shard(s) (sent 0 requests) -> {out}; "
                            "nothing to do (--overwrite redoes it)")
    assert other.returncode == 2
    assert "(changed: temperature 0.6 -> 0.7; top_p 0.95 -> 0.9); pass --overwrite" in _said(other)
