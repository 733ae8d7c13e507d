"""Run the real `distill` command in a subprocess; paths of the bundled data."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

BENCHMARKS = Path(str(resources.files("distill_cli") / "benchmarks"))
DEMO_DATA = Path(str(resources.files("distill_cli") / "data"))


def distill(*args: str | os.PathLike, cwd: Path | None = None, env: dict | None = None,
            timeout: float = 600) -> subprocess.CompletedProcess:
    """Run `python -m distill_cli ARGS` as a real process; never raises on a non-zero exit."""
    return subprocess.run(
        [sys.executable, "-m", "distill_cli", *map(str, args)],
        capture_output=True, text=True, cwd=cwd, timeout=timeout, env={**os.environ, **(env or {})},
    )
