"""--only-unsolved: pass rates from verify and grade outputs, the best earlier model deciding."""

from __future__ import annotations

import polars as pl
import pytest

from distill_cli.errors import BadInput
from distill_cli.stages.generate.escalate import best_pass_rates, unsolved

VERIFIED = pl.DataFrame({
    "id": ["a", "a", "b", "b", "b", "b", "c", "c", "d"],
    "model": ["m1", "m1", "m1", "m1", "m2", "m2", "m1", "m1", "m1"],
    "verdict": ["correct", "incorrect", "incorrect", "incorrect", "correct", "correct", "incorrect", "no_answer",
                "unverifiable"],
    "score": [1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, None, None],
})


def rates(df: pl.DataFrame) -> dict:
    return dict(best_pass_rates(df.lazy(), df.columns, "x").iter_rows())


def test_verified_pass_rate_is_the_best_models():
    assert rates(VERIFIED) == {"a": 0.5, "b": 1.0, "c": 0.0, "d": None}  # d: nothing checkable
    got = best_pass_rates(VERIFIED.lazy(), VERIFIED.columns, "x")
    assert unsolved(got, None) == {"c", "d"}
    assert unsolved(got, 0.6) == {"a", "c", "d"}


def test_graded_pass_rate_column_is_used():
    graded = VERIFIED.with_columns(pass_rate=pl.when(pl.col("id") == "a").then(0.25).otherwise(0.9))
    assert rates(graded)["a"] == 0.25 and unsolved(best_pass_rates(graded.lazy(), graded.columns, "x"), 0.5) == {"a"}


def test_an_output_without_verdicts_is_refused():
    df = pl.DataFrame({"id": ["a"], "completion": ["x"]})
    with pytest.raises(BadInput, match="give the output of `distill verify` or `distill grade`"):
        best_pass_rates(df.lazy(), df.columns, "runs/x/traces")
