"""Fixtures for the compress tests: the real verifier (one worker pool for the session) and R1-style traces."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # `tests.*` helpers (no tests/__init__.py)


@pytest.fixture(scope="session")
def equal():
    from distill_cli.stages.compress.check import VerifierEqual
    from distill_cli.stages.verify import VerifyConfig

    with VerifierEqual(VerifyConfig(workers=1)) as eq:
        yield eq
