"""grade and select through the real `distill` command on real Parquet stage directories."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from distill_cli.stages.grade.run import SUMMARY


def verified(path: Path, prompts: int = 40, samples: int = 4) -> Path:
    """A verified-like Parquet file: prompt i is solved by `teacher` on i % (samples + 1) of its samples."""
    rows = []
    for i in range(prompts):
        for model, solved in (("teacher", i % (samples + 1)), ("student", (i // 2) % (samples + 1))):
            for s in range(samples):
                ok = s < solved
                rows.append({"id": f"{i:016x}", "prompt": f"q{i}", "model": model, "sample": s,
                             "response": "x", "verdict": "correct" if ok else "incorrect",
                             "score": float(ok), "completion_tokens": 100 + 10 * s + i})
    path.mkdir(parents=True, exist_ok=True)
    pl.DataFrame(rows).write_parquet(path / "part-00000.parquet")
    return path


def manifest(path: Path) -> dict:
    return json.loads((path / "_manifest.json").read_text())


@pytest.mark.slow
def test_grade_then_select_a_mix_end_to_end(tmp_path, run_distill):
    src = verified(tmp_path / "verified")
    done = run_distill("grade", src, "-o", tmp_path / "graded", "--reference-model", "student")
    assert done.returncode == 0, done.stderr
    m = manifest(tmp_path / "graded")
    assert m["complete"] and m["rows"] == 320 and m["stats"]["groups"] == 80
    graded = pl.read_parquet(tmp_path / "graded" / "part-*.parquet")
    assert {"n_samples", "pass_rate", "score_cv", "len_mean", "len_cv", "ref_pass_rate", "difficulty"} <= set(
        graded.columns)
    summary = pl.read_parquet(tmp_path / "graded" / SUMMARY)
    assert summary.height == 40 and {"pass_rate__student", "pass_rate__teacher"} <= set(summary.columns)
    row = summary.filter(pl.col("id") == f"{3:016x}").row(0, named=True)
    assert (row["pass_rate__teacher"], row["pass_rate__student"], row["difficulty"]) == (0.75, 0.25, "hard")

    # the student grades 8 prompts hard and 8 medium; the teacher solves only 4 of those medium ones at all
    out = tmp_path / "selected"
    done = run_distill("select", tmp_path / "graded", "-o", out, "--distribution", "hard=0.5,medium=0.5",
                       "--total", "20", "--seed", "3", "--model", "teacher")
    assert done.returncode == 0, done.stderr
    assert "Warning: --distribution: hard short by 2" in " ".join(done.stderr.split())
    stats = json.loads((out / "_stats.json").read_text())
    assert stats["shortfall"] == {"hard": 2, "medium": 6} and stats["difficulty_out"] == {"hard": 8, "medium": 4}
    picked = pl.read_parquet(out / "part-*.parquet")
    assert set(picked.get_column("verdict")) == {"correct"} and set(picked.get_column("model")) == {"teacher"}

    again = run_distill("select", tmp_path / "graded", "-o", out, "--total", "5")
    assert again.returncode == 2 and "other params" in again.stderr


def test_grade_refuses_input_without_verdicts_and_leaves_nothing(tmp_path, run_distill):
    traces = tmp_path / "traces"
    traces.mkdir()
    pl.DataFrame({"id": ["a"], "model": ["m"], "response": ["x"]}).write_parquet(traces / "part-00000.parquet")
    done = run_distill("grade", traces, "-o", tmp_path / "graded")
    assert done.returncode == 2
    assert done.stderr.startswith("Error: ") and "missing column 'verdict'" in done.stderr
    assert not (tmp_path / "graded").exists()


def test_unknown_reference_model_is_bad_input(tmp_path, run_distill):
    src = verified(tmp_path / "verified", prompts=2, samples=1)
    done = run_distill("grade", src, "-o", tmp_path / "graded", "--reference-model", "gpt-9")
    assert done.returncode == 2
    assert "'gpt-9'" in done.stderr and "models present: student, teacher" in done.stderr
    assert not (tmp_path / "graded").exists()


@pytest.mark.slow
def test_sharded_grade_grades_over_every_shard_and_matches_one_run(tmp_path, run_distill):
    """A prompt's teacher samples in one input shard and its student samples in another: `--shard I/N` tasks each
    write their own output shards, and every row is graded over all its samples, as in a single run."""
    src = tmp_path / "verified"
    verified(src, prompts=30, samples=2)
    both = pl.read_parquet(src / "part-00000.parquet")
    (src / "part-00000.parquet").unlink()
    for i, model in enumerate(("teacher", "student")):
        both.filter(pl.col("model") == model).write_parquet(src / f"part-0000{i}.parquet")
    whole, parts = tmp_path / "whole", tmp_path / "graded"
    assert run_distill("grade", src, "-o", whole, "-q", "--rows-per-shard", "25").returncode == 0
    for i in range(2):
        done = run_distill("grade", src, "-o", parts, "--shard", f"{i}/2", "-q", "--rows-per-shard", "25")
        assert done.returncode == 0, done.stderr
    assert manifest(parts)["complete"] and manifest(parts)["stats"]["groups"] == 60
    one, split = (pl.read_parquet(d / "part-*.parquet") for d in (whole, parts))
    assert split.height == 120 and split.equals(one)
    assert pl.read_parquet(parts / SUMMARY).equals(pl.read_parquet(whole / SUMMARY))
