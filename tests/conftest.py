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


def pytest_collection_modifyitems(config, items):
    """Files that start a vLLM engine run first (the order within a file is kept). `make test` hands whole files to
    two workers in this order: the long files start early and the hundreds of short ones even out the end, instead
    of one worker starting a several-minute file while the other has nothing left to run."""
    heavy = {item.path for item in items if item.get_closest_marker("vllm")}
    items.sort(key=lambda item: item.path not in heavy)


@pytest.fixture
def run_distill():
    return distill


@pytest.fixture(scope="session")
def benchmarks() -> Path:
    return BENCHMARKS
