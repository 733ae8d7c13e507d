"""What a stage says in a log file and when it is stopped: plain progress lines at an interval, summary lines that
stay one line, one line (no traceback) when SIGTERM or Ctrl-C stops it, and help text that names its extras.

Every test runs the real command with stderr on a pipe, as Slurm, nohup or `distill run > log` see it.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import polars as pl
import pytest
from support.cli import distill

from distill_cli.progress import progress_line

PROGRESS = re.compile(r"^verify: ([\d,]+)/([\d,]+) rows \(\d+%\), [\d.,]+ rows/s, elapsed \d+:\d\d, "
                      r"ETA (\d+:\d\d|unknown)$")


def _traces(path, n: int):
    """Math traces whose answers make math-verify work (fractions against integers): verify takes a while."""
    pl.DataFrame({"id": [f"{i:05x}" for i in range(n)], "prompt": ["p"] * n, "answer": [str(i) for i in range(n)],
                  "domain": ["math"] * n, "response": [f"\\boxed{{\\frac{{{i}}}{{{i % 7 + 1}}}}}" for i in range(n)],
                  "finish_reason": ["stop"] * n}).write_parquet(path)
    return path


def _start(*args, **popen) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "distill_cli", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **popen)


def _wait_for_progress(proc: subprocess.Popen, timeout: float = 120) -> list[str]:
    """Read stderr until a progress line shows rows done: the workers are then busy answering."""
    lines, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        assert line, f"verify ended before any progress: {''.join(lines)}"
        lines.append(line)
        m = PROGRESS.match(line.rstrip("\n"))
        if m and int(m.group(1).replace(",", "")) > 0:
            return lines
    raise AssertionError("no progress line with rows done")


@pytest.mark.slow
@pytest.mark.parametrize("how", ["sigterm-to-process", "sigterm-to-group", "ctrl-c-to-group"])
def test_stopped_verify_prints_one_line_and_no_traceback_then_resumes(tmp_path, how):
    traces, out = _traces(tmp_path / "traces.parquet", 150), tmp_path / "verified"
    args = ("verify", traces, "-o", out, "--workers", 2, "--progress-interval", 0.2)
    proc = _start(*args, start_new_session=True)
    _wait_for_progress(proc)
    sig = signal.SIGINT if how == "ctrl-c-to-group" else signal.SIGTERM
    if how == "sigterm-to-process":  # `kill PID`: the workers are not signalled and lose their parent
        os.kill(proc.pid, sig)
    else:  # a scheduler's cancel or Ctrl-C in a terminal reach the whole process group
        os.killpg(proc.pid, sig)
    _, err = proc.communicate(timeout=60)  # to EOF: also what workers that outlived the parent wrote
    assert proc.returncode == 128 + sig, err
    assert "Traceback" not in err and "Error" not in err, err
    said = [line for line in err.splitlines() if not PROGRESS.match(line)]
    assert said == [f"verify: stopped by {sig.name}; finished work is saved, re-run the same command to resume"]

    if how == "sigterm-to-process":  # (once: resume after a kill is tested at length elsewhere)
        again = distill(*args, timeout=300)
        assert again.returncode == 0, again.stderr
        assert pl.read_parquet(out / "part-*.parquet").height == 150


@pytest.mark.slow
def test_progress_lines_in_a_log_at_the_interval(tmp_path):
    traces = _traces(tmp_path / "traces.parquet", 100)
    res = distill("verify", traces, "-o", tmp_path / "v", "--workers", 2, "--progress-interval", 0.3)
    assert res.returncode == 0, res.stderr
    lines = res.stderr.splitlines()
    done = [int(m.group(1).replace(",", "")) for m in map(PROGRESS.match, lines) if m]
    assert len(done) >= 3, res.stderr  # worker start-up alone takes longer than a few intervals
    assert done == sorted(done) and done[-1] > 0 and all(m.group(2) == "100" for m in map(PROGRESS.match, lines) if m)
    assert lines[-1].startswith("verify: correct ")  # the summary comes after the last progress line

    # worker start-up alone spans several intervals, so a 4-row run would print lines too, but not with -q
    few = _traces(tmp_path / "few.parquet", 4)
    quiet = distill("verify", few, "-o", tmp_path / "q", "--progress-interval", 0.3, "-q")
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr


def test_progress_line_shape():
    assert progress_line("generate", 10, 40, 20.0, "95 tok/s") == (
        "generate: 10/40 rows (25%), 0.5 rows/s, 95 tok/s, elapsed 0:20, ETA 1:00")
    # rows found in a checkpoint are done but were not worked for: the rate and ETA leave them out
    assert progress_line("verify", 3000, 4000, 10.0, resumed=2000) == (
        "verify: 3,000/4,000 rows (75%), 100.0 rows/s, elapsed 0:10, ETA 0:10")
    assert progress_line("dedupe", 0, None, 3725.0) == "dedupe: working, 0 rows, elapsed 1:02:05"
    assert progress_line("verify", 0, 10, 5.0).endswith("0.0 rows/s, elapsed 0:05, ETA unknown")


def test_summary_lines_are_not_wrapped_in_a_log(tmp_path):
    out = tmp_path / ("a-directory-name-long-enough-that-the-summary-line-passes-eighty-columns" * 2) / "verified"
    res = distill("verify", _traces(tmp_path / "t.parquet", 4), "-o", out)
    assert res.returncode == 0, res.stderr
    summary = [line for line in res.stderr.splitlines() if line.startswith("verify: ")]
    assert len(summary) == 1 and summary[0].endswith(f"-> {out}"), res.stderr
    shown = distill("inspect", out, "--rows", 0)
    assert shown.returncode == 0, shown.stderr
    assert re.search(rf"^{re.escape(str(out))}  stage=verify  rows=4  shards=1  complete=True$", shown.stdout,
                     re.MULTILINE), shown.stdout


def test_help_names_the_executor_extra_as_installed_from_a_clone():
    for stage in ("verify", "generate"):
        res = distill(stage, "--help")
        assert res.returncode == 0, res.stderr
        text = " ".join(re.sub(r"[│╭╮╰╯─]", " ", res.stdout).split())
        assert "or as Ray tasks (from a clone: pip install '.[ray]')." in text, text
