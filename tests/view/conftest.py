"""One demo-size run of real graded traces and one `distill view` server over it, shared by the viewer tests."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from view.viewrun import ViewRun, make_view_run


@pytest.fixture(scope="session")
def view_run(tmp_path_factory) -> ViewRun:
    return make_view_run(tmp_path_factory.mktemp("view") / "run")


def start_viewer(root: Path, *args: str) -> tuple[subprocess.Popen, str]:
    """`distill view ROOT --port 0` as a real process; returns it and the URL it printed."""
    proc = subprocess.Popen([sys.executable, "-m", "distill_cli", "view", str(root), "--port", "0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if "http://" not in line:
        proc.kill()
        raise AssertionError(f"viewer did not start: {line!r} {proc.stderr.read()!r}")
    return proc, line.split(" at ", 1)[1].split()[0].rstrip("/")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="session")
def viewer_url(view_run: ViewRun) -> Iterator[str]:
    proc, url = start_viewer(view_run.root)
    yield url
    stop(proc)
