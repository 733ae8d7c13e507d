"""grade's pure core on hand-computed cases: pass rates, CVs, bands, reference-model grading, the summary."""

from __future__ import annotations

import math

import polars as pl
import pytest

from distill_cli.errors import BadInput
from distill_cli.stages.grade.core import (
    DEFAULT_BANDS,
    UNGRADED,
    GradeConfig,
    Lookup,
    attach,
    band_expr,
    grade_frame,
    grade_table,
    parse_bands,
)


def rows(spec: list[tuple[str, str, float | None, str, int]]) -> pl.LazyFrame:
    """(id, model, score, verdict, completion_tokens) rows, numbered by sample within (id, model)."""
    df = pl.DataFrame(spec, schema=["id", "model", "score", "verdict", "completion_tokens"], orient="row")
    df = df.with_columns(pl.int_range(pl.len()).over("id", "model").alias("sample"))
    return df.lazy()


def graded(lf: pl.LazyFrame, cfg: GradeConfig | None = None) -> dict[tuple[str, str], dict]:
    out, _, _ = grade_frame(lf, cfg or GradeConfig())
    return {(r["id"], r["model"]): r for r in out.unique(["id", "model"], keep="first").iter_rows(named=True)}


def test_pass_rate_and_cvs_by_hand():
    lf = rows([("a", "m", 1.0, "correct", 10), ("a", "m", 0.0, "incorrect", 20),
               ("a", "m", 1.0, "correct", 30), ("a", "m", 1.0, "correct", 40)])
    g = graded(lf)[("a", "m")]
    assert g["n_samples"] == 4
    assert g["pass_rate"] == pytest.approx(0.75)
    # population std of 1,0,1,1 is sqrt(0.75 * 0.25); CV = std / mean
    assert g["score_cv"] == pytest.approx(math.sqrt(0.1875) / 0.75)
    assert g["len_mean"] == pytest.approx(25.0)
    assert g["len_cv"] == pytest.approx(math.sqrt(125) / 25)  # population variance of 10..40 is 125
    assert g["difficulty"] == "easy"


def test_partial_scores_use_the_mean_and_population_std():
    lf = rows([("c", "m", 0.5, "incorrect", 100), ("c", "m", 1.0, "correct", 100)])
    g = graded(lf)[("c", "m")]
    assert g["pass_rate"] == pytest.approx(0.75)
    assert g["score_cv"] == pytest.approx(0.25 / 0.75)
    assert g["len_cv"] == pytest.approx(0.0)


def test_cv_is_null_for_all_zero_and_single_sample_groups():
    lf = rows([("z", "m", 0.0, "incorrect", 5), ("z", "m", 0.0, "no_answer", 7), ("one", "m", 1.0, "correct", 9)])
    g = graded(lf)
    assert g[("z", "m")]["pass_rate"] == 0.0 and g[("z", "m")]["score_cv"] is None
    assert g[("z", "m")]["difficulty"] == "unsolved"
    assert g[("one", "m")]["n_samples"] == 1
    assert g[("one", "m")]["score_cv"] is None and g[("one", "m")]["len_cv"] is None
    assert g[("one", "m")]["difficulty"] == "trivial"


def test_unverifiable_samples_are_left_out_and_a_null_score_is_a_fail():
    lf = rows([("u", "m", 1.0, "correct", 1), ("u", "m", 0.0, "unverifiable", 1), ("u", "m", None, "timeout", 1),
               ("all", "m", 0.0, "unverifiable", 1)])
    g = graded(lf)
    assert g[("u", "m")]["n_samples"] == 2 and g[("u", "m")]["pass_rate"] == pytest.approx(0.5)
    assert g[("all", "m")]["n_samples"] == 0
    assert g[("all", "m")]["pass_rate"] is None and g[("all", "m")]["difficulty"] == UNGRADED


def test_default_bands_edges():
    rates = pl.Series("r", [0.0, 0.125, 0.3, 0.3001, 0.7, 0.75, 0.999, 1.0, None])
    got = pl.select(band_expr(pl.lit(rates), parse_bands(DEFAULT_BANDS))).to_series().to_list()
    assert got == ["unsolved", "hard", "hard", "medium", "medium", "easy", "easy", "trivial", UNGRADED]


def test_custom_bands_and_their_errors():
    bands = parse_bands("zero=0, low=<0.5, high=1")
    got = pl.select(band_expr(pl.lit(pl.Series([0.0, 0.49, 0.5, 1.0])), bands)).to_series().to_list()
    assert got == ["zero", "low", "high", "high"]
    for bad in ("hard=0.3,medium=0.2,easy=1", "hard=0.3", "hard=0.5,easy=<1", "hard=x,easy=1", "a=0.2,a=1",
                "hard=1.5", ""):
        with pytest.raises(BadInput, match="--bands"):
            parse_bands(bad)


def test_groups_are_per_model_and_rows_keep_their_order():
    lf = rows([("p", "big", 1.0, "correct", 1), ("p", "small", 0.0, "incorrect", 1),
               ("p", "big", 1.0, "correct", 1), ("p", "small", 1.0, "correct", 1)])
    out, _, stats = grade_frame(lf, GradeConfig())
    assert out.get_column("model").to_list() == ["big", "small", "big", "small"]
    assert out.get_column("pass_rate").to_list() == [1.0, 0.5, 1.0, 0.5]
    assert out.get_column("difficulty").to_list() == ["trivial", "medium", "trivial", "medium"]
    assert stats["groups"] == 2 and stats["prompts"] == 1 and stats["rows_in"] == 4
    assert stats["difficulty_groups"] == {"medium": 1, "trivial": 1}


def test_reference_model_grades_every_models_rows():
    lf = rows([("p", "teacher", 1.0, "correct", 1), ("p", "teacher", 1.0, "correct", 1),
               ("p", "student", 0.0, "incorrect", 1), ("p", "student", 1.0, "correct", 1),
               ("p", "student", 0.0, "incorrect", 1), ("p", "student", 0.0, "incorrect", 1),
               ("q", "teacher", 1.0, "correct", 1)])
    g = graded(lf, GradeConfig(reference_model="student"))
    assert g[("p", "teacher")]["pass_rate"] == 1.0
    assert g[("p", "teacher")]["ref_pass_rate"] == pytest.approx(0.25)
    assert g[("p", "teacher")]["difficulty"] == "hard" == g[("p", "student")]["difficulty"]
    assert g[("q", "teacher")]["ref_pass_rate"] is None and g[("q", "teacher")]["difficulty"] == UNGRADED


def test_unknown_reference_model_names_the_models_present():
    lf = rows([("p", "teacher", 1.0, "correct", 1), ("p", "student", 1.0, "correct", 1)])
    with pytest.raises(BadInput, match=r"'nope'.*models present: student, teacher"):
        grade_frame(lf, GradeConfig(reference_model="nope"))


def test_summary_has_one_pass_rate_column_per_model():
    lf = rows([("p", "a", 1.0, "correct", 1), ("p", "a", 0.0, "incorrect", 1), ("p", "b", 1.0, "correct", 1),
               ("q", "b", 0.0, "incorrect", 1)])
    _, table, _ = grade_frame(lf, GradeConfig(reference_model="b"))
    assert table.columns[:3] == ["id", "pass_rate__a", "pass_rate__b"]
    assert table.select("id", "pass_rate__a", "pass_rate__b", "ref_pass_rate", "difficulty").sort("id").rows() == [
        ("p", 0.5, 1.0, 1.0, "trivial"), ("q", None, 0.0, 0.0, "unsolved")]


def test_regrading_replaces_the_old_columns_and_works_without_token_counts():
    lf = rows([("p", "a", 1.0, "correct", 1), ("p", "a", 0.0, "incorrect", 1)]).drop("completion_tokens")
    first, _, _ = grade_frame(lf, GradeConfig(reference_model="a"))
    again, _, _ = grade_frame(first.lazy(), GradeConfig(bands=parse_bands("low=0.5,high=1")))
    assert again.columns.count("pass_rate") == 1 and "ref_pass_rate" not in again.columns
    assert again.get_column("difficulty").to_list() == ["low", "low"]
    assert again.get_column("len_mean").null_count() == 2


def test_rows_find_their_grades_even_when_hashes_collide():
    lf = rows([("p", "a", 1.0, "correct", 1), ("q", "a", 0.0, "incorrect", 2), ("p", "b", 0.0, "incorrect", 3),
               ("p", "a", 0.0, "incorrect", 4), ("r", None, 1.0, "correct", 5)])
    table = grade_table(lf, GradeConfig())
    shard = lf.collect().slice(1, 4)
    expected = attach(shard, Lookup.build(table))
    assert expected.get_column("pass_rate").to_list() == [0.0, 0.0, 0.5, 1.0]
    # every pair under one first hash: the search lands on the wrong pair, the second hash sees it, the join takes over
    collided = attach(shard, Lookup.build(table, key=pl.lit(7, pl.UInt64)))
    assert collided.equals(expected)
