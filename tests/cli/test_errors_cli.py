"""An unexpected exception is one `Error:` line and a traceback file beside the output; --debug prints it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl

# a bug forced into grade in a real `distill` process: its core raises what no input check foresees
BROKEN_GRADE = """
import sys
import distill_cli.stages.grade.core as grade
def broken(*args, **kwargs):
    raise ZeroDivisionError("forced for the test")
grade.grade_table = broken
from distill_cli.cli import main
sys.argv = ["distill", *sys.argv[1:]]
main()
"""


def _verified(tmp_path: Path) -> Path:
    path = tmp_path / "verified.parquet"
    pl.DataFrame({"id": ["a", "a"], "model": ["m", "m"], "sample": [0, 1], "verdict": ["correct", "incorrect"],
                  "score": [1.0, 0.0]}).write_parquet(path)
    return path


def _grade(tmp_path: Path, *root: str) -> subprocess.CompletedProcess:
    args = [*root, "grade", str(_verified(tmp_path)), "-o", str(tmp_path / "runs" / "graded")]
    return subprocess.run([sys.executable, "-c", BROKEN_GRADE, *args], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)


def test_a_bug_is_one_line_with_the_traceback_beside_the_output(tmp_path):
    (tmp_path / "runs").mkdir()
    res = _grade(tmp_path)
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    assert lines[0].startswith("Error: grade: unexpected ZeroDivisionError: forced for the test (a bug in distill;")
    logs = list((tmp_path / "runs").glob(".distill-error-grade-*.log"))
    assert len(logs) == 1 and str(logs[0]) in lines[0]
    text = logs[0].read_text()
    assert "Traceback (most recent call last)" in text and "ZeroDivisionError: forced for the test" in text
    assert "command: distill grade" in text
    assert not (tmp_path / "runs" / "graded").exists()  # nothing half-written


def test_debug_prints_the_traceback_instead(tmp_path):
    (tmp_path / "runs").mkdir()
    res = _grade(tmp_path, "--debug")
    assert res.returncode == 1
    assert "Traceback (most recent call last)" in res.stderr and "ZeroDivisionError" in res.stderr
    assert not list((tmp_path / "runs").glob(".distill-error-*"))


def test_without_a_writable_place_beside_the_output_the_log_goes_to_the_working_directory(tmp_path):
    res = _grade(tmp_path)  # runs/ does not exist, so the log cannot go beside runs/graded
    assert res.returncode == 1 and "Traceback" not in res.stderr
    logs = list(tmp_path.glob(".distill-error-grade-*.log"))
    assert len(logs) == 1 and str(logs[0]) in res.stderr
