"""`distill verify --judge tiny`: the bundled model as the judge, on the offline vLLM engine (one engine start).

A 135M model is no judge one would trust; this proves the path end to end: the engine starts only because rows need
judging, with the --judge-* engine options given; every fallback row gets exactly one reply (temperature 0), parsed
to a verdict or `judge_error`; the rows the checkers decided are left as they were.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # `tests.support` (no tests/__init__.py)

from tests.support import distill_env  # noqa: E402
from tests.support.cli import BENCHMARKS, distill  # noqa: E402

pytestmark = [pytest.mark.vllm, pytest.mark.slow]


def test_bundled_model_judges_each_fallback_row_once(tmp_path, tiny_model):
    problems = [json.loads(line) for line in (BENCHMARKS / "math500_test.jsonl").read_text().splitlines()[:4]]
    rows = [{"id": f"p{i}", "prompt": p["problem"], "answer": p["answer"], "domain": "math",
             "response": "The result is the one asked for, written out in words."} for i, p in enumerate(problems[:3])]
    rows.append({"id": "p3", "prompt": problems[3]["problem"], "answer": problems[3]["answer"], "domain": "math",
                 "response": f"So the answer is $\\boxed{{{problems[3]['answer']}}}$."})
    src, out = tmp_path / "traces.parquet", tmp_path / "judged"
    pl.DataFrame(rows).write_parquet(src)
    proc = distill("verify", src, "-o", out, "--judge", "tiny", "--judge-max-tokens", "24", "--judge-max-model-len",
                   "1024", "--judge-kv-cache-memory", "256MiB", "--judge-engine-arg", "enforce_eager=true",
                   env=distill_env(), timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    df = pl.read_parquet(out / "part-00000.parquet").sort("id")
    asked, decided = df.head(3), df.tail(1)
    assert set(asked["judge_verdict"]) <= {"correct", "incorrect", "judge_error"}
    assert (asked["judge_output"].str.len_chars() > 0).all() and set(asked["judge_model"]) == {"tiny"}
    for row in asked.iter_rows(named=True):  # a verdict from the judge, or the checkers' open verdict kept
        assert (row["verdict_source"] == "judge") == (row["judge_verdict"] != "judge_error")
        assert row["verdict"] == (row["judge_verdict"] if row["verdict_source"] == "judge" else "no_answer")
    assert decided["verdict"].to_list() == ["correct"] and decided["judge_verdict"].to_list() == [None]
    judged = json.loads((out / "_stats.json").read_text())["judge"]
    assert (judged["rows"], judged["requests"], judged["asked"], judged["resumed"]) == (3, 3, 3, 0)
    assert sum(judged["verdicts"].values()) == 3
    params = json.loads((out / "_manifest.json").read_text())["params"]["judge"]  # the engine options reached it
    assert params["engine"] == {"dtype": "float32", "max_model_len": 1024, "engine_args": {"enforce_eager": True}}
