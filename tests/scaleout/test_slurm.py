"""scripts/slurm_example.sh run as Slurm would run it: array tasks (one process per SLURM_ARRAY_TASK_ID, out of
order) and then the dependent job; the verify output equals one unsharded run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from support.cli import BENCHMARKS, distill

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "slurm_example.sh"


def _traces(run: Path) -> None:
    gold = pl.read_ndjson(BENCHMARKS / "gsm8k_test.jsonl").head(40)
    answers = [a.split("####")[-1].strip().replace(",", "") for a in gold["answer"]]
    responses = [f"\\boxed{{{a}}}" if i % 3 else "no idea" for i, a in enumerate(answers)]
    (run / "generate").mkdir(parents=True)
    pl.DataFrame({"id": [f"{i:04x}" for i in range(40)], "prompt": gold["question"], "answer": answers,
                  "domain": ["math"] * 40, "model": ["m"] * 40, "sample": [0] * 40, "response": responses,
                  "finish_reason": ["stop"] * 40}).write_parquet(run / "generate" / "part-00000.parquet")


@pytest.mark.slow
def test_array_tasks_then_dependent_job_equal_one_unsharded_run(tmp_path):
    run = tmp_path / "run"
    _traces(run)
    bindir = Path(sys.executable).parent
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "DISTILL": str(bindir / "distill"),
           "ROWS_PER_SHARD": "10", "SHARDS": "4", "SLURM_CPUS_PER_TASK": "1"}
    for task in (2, 0, 3, 1):
        res = subprocess.run(["bash", SCRIPT, run], env={**env, "SLURM_ARRAY_TASK_ID": str(task)},
                             capture_output=True, text=True, timeout=120)
        assert res.returncode == 0, res.stderr
        manifest = json.loads((run / "verify" / "_manifest.json").read_text())
        assert manifest["complete"] == (task == 1)  # the task writing the last shard marks it complete
    assert len(list((run / "verify").glob("part-*.parquet"))) == 4

    res = subprocess.run(["bash", SCRIPT, run], env={**env, "DISTILL_NEXT": "1"}, capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr
    exported = [json.loads(line) for line in (run / "sft.jsonl").read_text().splitlines()]
    assert len(exported) == 26  # the rows with a right \boxed answer

    whole = distill("verify", run / "generate", "-o", tmp_path / "whole", "--rows-per-shard", "10", "-q")
    assert whole.returncode == 0, whole.stderr
    assert pl.read_parquet(run / "verify" / "part-*.parquet").equals(pl.read_parquet(tmp_path / "whole" /
                                                                                    "part-*.parquet"))
