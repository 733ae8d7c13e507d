"""Shared fixtures. Helpers to import live in tests/support (a package, so no conftest shadowing)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support.cli import BENCHMARKS, distill

if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test`'s worker processes (pytest-xdist) are given COLUMNS=80 and LINES=24, which a user's pipe or log
    # file does not have: without this, every command a test starts would think it writes to an 80-column terminal
    for name in ("COLUMNS", "LINES"):
        os.environ.pop(name, None)


@pytest.fixture
def run_distill():
    return distill


@pytest.fixture(scope="session")
def benchmarks() -> Path:
    return BENCHMARKS
