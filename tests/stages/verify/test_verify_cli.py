"""`distill verify` end to end on real Parquet files, and resume from checkpointed chunks."""

from __future__ import annotations

import json
import subprocess
import sys

import polars as pl
import pytest
from verify_fixtures import mbpp, mbpp_program

from distill_cli.stagedir.checkpoint import ShardCheckpoint
from distill_cli.stagedir.runner import ShardTask
from distill_cli.stages.verify.core import VerifyConfig
from distill_cli.stages.verify.shard import REASON, LazyPool, verify_shard


def distill(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "distill_cli", *map(str, args)], capture_output=True, text=True,
                          timeout=300)


def _traces(n_math: int = 6) -> pl.DataFrame:
    code = mbpp()[0]
    rows = [{"id": f"m{i}", "model": "teacher", "sample": 0, "response": f"<think>\\boxed{{0}}</think>\\boxed{{{i}}}",
             "answer": str(i if i % 2 else i + 1), "domain": "math", "tests": None, "finish_reason": "stop"}
            for i in range(n_math)]
    rows += [
        {"id": "c1", "model": "teacher", "sample": 0, "response": f"```python\n{mbpp_program(code)}\n```",
         "answer": None, "domain": "code", "tests": json.dumps(code["test_list"]), "finish_reason": "stop"},
        {"id": "q1", "model": "student", "sample": 1, "response": "The answer is (D)", "answer": "D",
         "domain": "choice", "tests": None, "finish_reason": "stop"},
        {"id": "t1", "model": "student", "sample": 0, "response": "A poem.", "answer": None, "domain": "text",
         "tests": None, "finish_reason": "stop"},
        {"id": "m9", "model": "student", "sample": 0, "response": "<think>Let me think... 2 + 2", "answer": "4",
         "domain": "math", "tests": None, "finish_reason": "length"},
    ]
    return pl.DataFrame(rows, schema_overrides={"answer": pl.String, "tests": pl.String})


@pytest.mark.slow
def test_verify_command_end_to_end(tmp_path):
    src = tmp_path / "traces.parquet"
    _traces().write_parquet(src)
    out = tmp_path / "verified"
    done = distill("verify", src, "-o", out, "--workers", "2", "--timeout", "5", "-q")
    assert done.returncode == 0, done.stderr
    df = pl.read_parquet(out / "part-00000.parquet")
    assert df.columns[:len(_traces().columns)] == _traces().columns  # nothing dropped, order kept
    verdicts = dict(zip(df["id"], df["verdict"], strict=True))
    assert verdicts == {"m0": "incorrect", "m1": "correct", "m2": "incorrect", "m3": "correct", "m4": "incorrect",
                        "m5": "correct", "c1": "correct", "q1": "correct", "t1": "unverifiable", "m9": "no_answer"}
    assert REASON not in df.columns
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["complete"] is True
    assert manifest["stats"]["by_model"]["student"] == {"correct": 1, "unverifiable": 1, "no_answer": 1}
    assert manifest["stats"]["by_domain"]["code"] == {"correct": 1}
    again = distill("verify", src, "-o", out, "--workers", "2", "--timeout", "5")
    assert again.returncode == 0 and "correct" in again.stderr


def test_bad_input_is_one_line_and_leaves_nothing(tmp_path):
    src = tmp_path / "prompts.parquet"
    pl.DataFrame({"prompt": ["hi"], "answer": ["1"]}).write_parquet(src)
    done = distill("verify", src, "-o", tmp_path / "out")
    assert done.returncode == 2
    assert done.stderr.startswith("Error: ") and "response" in done.stderr and done.stderr.count("\n") == 1
    assert not (tmp_path / "out" / "_manifest.json").exists() or not json.loads(
        (tmp_path / "out" / "_manifest.json").read_text())["complete"]
    bad = distill("verify", src, "-o", tmp_path / "out2", "--domain", "poetry")
    assert bad.returncode == 2 and "--domain" in bad.stderr


class _Interrupted(Exception):
    pass


class _Progress:
    """Counts verified rows; raises after `stop_after` of them to play a kill half-way through a shard."""

    def __init__(self, stop_after: int | None = None):
        self.rows, self.notes, self.stop_after = 0, [], stop_after

    def advance(self, n: int, note: str | None = None, resumed: bool = False) -> None:
        if note:
            self.notes.append((note, n))
            return
        self.rows += n
        if self.stop_after is not None and self.rows >= self.stop_after:
            raise _Interrupted


def test_resume_skips_checkpointed_chunks(tmp_path):
    df = _traces(n_math=10).filter(pl.col("domain") != "code")
    cfg = VerifyConfig(workers=1, timeout=5.0)
    checkpoint = ShardCheckpoint(tmp_path / "_work" / "part-00000")
    pool = LazyPool(cfg)
    try:
        first = _Progress(stop_after=7)  # dies in the 2nd chunk of 4: one chunk saved
        with pytest.raises(_Interrupted):
            verify_shard(df, ShardTask(0, None, checkpoint, first), cfg, pool, chunk_rows=4)
        assert len(checkpoint.chunks()) == 1
        second = _Progress()
        out, stats = verify_shard(df, ShardTask(0, None, checkpoint, second), cfg, pool, chunk_rows=4)
    finally:
        pool.close()
    assert second.notes == [("resumed", 4)] and second.rows == df.height - 4
    assert out["id"].to_list() == df["id"].to_list()
    assert out.columns == df.columns + ["verdict", "score", "extracted", "verifier", "test_results",
                                        "code_language", "code_checker", "code_error"]
    assert sum(stats["verdicts"].values()) == df.height
    assert stats["reasons"] == {"reasoning_unfinished": 1, "no_reference": 1}


@pytest.mark.slow
def test_consensus_resume_across_chunks_that_split_a_prompt(tmp_path):
    """Labels are decided over the whole shard before it is cut into chunks, so a resumed shard agrees."""
    rows = [{"id": f"p{i // 5}", "response": f"\\boxed{{{(3 if i % 5 else 4) + i // 5}}}", "answer": None,
             "domain": "math"} for i in range(10)]
    df = pl.DataFrame(rows, schema_overrides={"answer": pl.String})
    cfg = VerifyConfig(workers=1, consensus=0.6)
    checkpoint = ShardCheckpoint(tmp_path / "_work" / "part-00000")
    pool = LazyPool(cfg)
    try:
        with pytest.raises(_Interrupted):  # dies in the 2nd chunk, which holds samples of both prompts
            verify_shard(df, ShardTask(0, None, checkpoint, _Progress(stop_after=7)), cfg, pool, chunk_rows=4)
        assert len(checkpoint.chunks()) == 1
        second = _Progress()
        out, stats = verify_shard(df, ShardTask(0, None, checkpoint, second), cfg, pool, chunk_rows=4)
        assert second.notes == [("resumed", 4)]
    finally:
        pool.close()
    assert out["consensus_answer"].to_list() == ["3"] * 5 + ["4"] * 5
    assert out["verdict"].to_list() == ["incorrect", "correct", "correct", "correct", "correct"] * 2
    assert stats["answer_source"] == {"consensus": 10}


@pytest.mark.slow
def test_consensus_refuses_shards_that_split_a_prompt_and_labels_whole_ones(tmp_path):
    rows = [{"id": f"p{i // 5}", "sample": i % 5, "response": f"\\boxed{{{3 if i % 5 else 4}}}", "answer": None,
             "domain": "math"} for i in range(10)]
    src = tmp_path / "traces.parquet"
    pl.DataFrame(rows, schema_overrides={"answer": pl.String}).write_parquet(src)
    split = distill("verify", src, "-o", tmp_path / "split", "--consensus", "0.6", "--rows-per-shard", "4", "-q")
    assert split.returncode == 2 and split.stderr.startswith("Error: ") and "in shards 0 and 1" in split.stderr
    assert "Traceback" not in split.stderr and not (tmp_path / "split" / "_manifest.json").exists()
    whole = distill("verify", src, "-o", tmp_path / "whole", "--consensus", "0.6", "--rows-per-shard", "5", "-q")
    assert whole.returncode == 0, whole.stderr
    out = pl.read_parquet(tmp_path / "whole" / "part-*.parquet")
    assert out["verdict"].to_list() == ["incorrect", "correct", "correct", "correct", "correct"] * 2
    assert set(out["consensus_answer"]) == {"3"} and set(out["consensus_share"]) == {0.8}
    stats = json.loads((tmp_path / "whole" / "_manifest.json").read_text())["stats"]
    assert stats["answer_source"] == {"consensus": 10} and stats["by_checker"] == {"numeric": {"incorrect": 2,
                                                                                                "correct": 8}}
