"""Shared fixtures: run the real `distill` command in a subprocess, and the bundled benchmark files."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

BENCHMARKS = Path(str(resources.files("distill_cli") / "benchmarks"))
DEMO_DATA = Path(str(resources.files("distill_cli") / "data"))


def distill(*args: str | os.PathLike, cwd: Path | None = None, env: dict | None = None,
            timeout: float = 600) -> subprocess.CompletedProcess:
    """Run `python -m distill_cli ARGS` as a real process; never raises on a non-zero exit."""
    return subprocess.run(
        [sys.executable, "-m", "distill_cli", *map(str, args)],
        capture_output=True, text=True, cwd=cwd, timeout=timeout, env={**os.environ, **(env or {})},
    )


@pytest.fixture
def run_distill():
    return distill


@pytest.fixture(scope="session")
def benchmarks() -> Path:
    return BENCHMARKS
