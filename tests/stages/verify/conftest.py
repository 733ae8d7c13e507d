"""One warm worker pool per test module: starting workers costs seconds, verifying a row milliseconds."""

from __future__ import annotations

import pytest

from distill_cli.stages.verify.core import VerifyConfig
from distill_cli.stages.verify.pool import VerifyPool


@pytest.fixture(scope="module")
def pool_cfg() -> VerifyConfig:
    return VerifyConfig(workers=2, timeout=5.0, code_timeout=5.0)


@pytest.fixture(scope="module")
def pool(pool_cfg):
    with VerifyPool(pool_cfg) as p:
        yield p
