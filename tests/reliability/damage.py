"""A small, complete graded stage directory that every stage accepts, for the reliability tests to damage."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from distill_cli.stagedir.directory import StageDir

PROBLEMS = [("What is 2 + 3?", "5"), ("What is 7 * 6?", "42"), ("Compute 10 - 4.", "6"), ("What is 9 / 3?", "3")]


def graded_rows(samples: int = 2) -> pl.DataFrame:
    rows = []
    for p, (prompt, answer) in enumerate(PROBLEMS):
        for s in range(samples):
            good = (p + s) % 2 == 0
            value = answer if good else str(int(answer) + 1)
            reasoning = f"Let me compute. {prompt} The result is {value}. Wait, let me double-check. Yes, {value}."
            response = f"The answer is $\\boxed{{{value}}}$."
            rows.append({
                "id": f"{p:016x}", "prompt": prompt, "answer": answer, "domain": "math", "source": "unit",
                "tests": None, "meta": None, "model": "teacher", "sample": s,
                "completion": f"<think>\n{reasoning}\n</think>\n\n{response}", "reasoning": reasoning,
                "response": response, "finish_reason": "stop", "prompt_tokens": 20, "completion_tokens": 40 + s,
                "gen_params": json.dumps({"temperature": 0.6}), "seed": 0,
                "verdict": "correct" if good else "incorrect", "score": 1.0 if good else 0.0,
                "extracted": value, "verifier": "math-verify",
            })
    df = pl.DataFrame(rows, schema_overrides={"tests": pl.String, "meta": pl.String})
    rate = df.group_by("id").agg(pl.col("score").mean().alias("pass_rate"))
    return df.join(rate, on="id").with_columns(
        n_samples=pl.lit(samples, pl.Int64), score_cv=pl.lit(1.0), difficulty=pl.lit("medium"))


def write_stage_dir(path: Path, df: pl.DataFrame, stage: str = "grade") -> Path:
    sd = StageDir(path, stage, {}, [{"path": "unit", "digest": "unit"}], 1).open()
    sd.write_shard(0, df)
    assert sd.finish()
    return path


@pytest.fixture
def graded_dir(tmp_path) -> Path:
    return write_stage_dir(tmp_path / "graded", graded_rows())
