"""Shared fixtures. Helpers to import live in tests/support (a package, so no conftest shadowing)."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.cli import BENCHMARKS, distill


@pytest.fixture
def run_distill():
    return distill


@pytest.fixture(scope="session")
def benchmarks() -> Path:
    return BENCHMARKS
