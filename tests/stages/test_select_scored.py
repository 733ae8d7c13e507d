"""select --by perplexity|divergence: value bands, quantile windows and --total ranking over score's columns."""

from __future__ import annotations

import polars as pl
import pytest

from distill_cli.errors import BadInput
from distill_cli.stages.select.core import SelectConfig, parse_window, select_frame


def scored(student: bool = True) -> pl.LazyFrame:
    """Five prompts, one correct trace each, perplexity 1..5 and divergence 0.5..-0.3."""
    df = pl.DataFrame({"id": [f"p{i}" for i in range(1, 6)], "model": "m", "sample": 0, "verdict": "correct",
                       "teacher_perplexity": [9.0, 8.0, 7.0, 6.0, 5.0], "divergence": [0.5, 0.3, 0.1, -0.1, -0.3]})
    if student:
        df = df.with_columns(student_perplexity=pl.Series([1.0, 2.0, 3.0, 4.0, 5.0]))
    return df.lazy()


def ids(lf: pl.LazyFrame, **kw) -> tuple[list[str], dict]:
    out, stats, _ = select_frame(lf, SelectConfig(**kw))
    return out["id"].to_list(), stats


def test_a_perplexity_band_keeps_the_students_values_in_the_window():
    kept, stats = ids(scored(), by="perplexity", band=parse_window("(1:4]", "--band"))
    assert kept == ["p2", "p3", "p4"] and stats["dropped"]["band"] == 2


def test_without_a_student_the_teachers_perplexity_is_used():
    kept, _ = ids(scored(student=False), by="perplexity", band=parse_window("7:", "--band"))
    assert kept == ["p1", "p2", "p3"]


def test_a_quantile_window_keeps_the_middle_of_the_divergences():
    kept, stats = ids(scored(), by="divergence", quantile=parse_window("0.25:0.75", "--quantile"))
    assert kept == ["p2", "p3", "p4"] and stats["dropped"]["quantile"] == 2
    top, _ = ids(scored(), by="divergence", quantile=parse_window("(0.5:1]", "--quantile"))
    assert top == ["p1", "p2"]


def test_total_takes_the_most_divergent_and_the_most_perplexing_first():
    assert ids(scored(), by="divergence", total=2)[0] == ["p1", "p2"]
    assert ids(scored(), by="perplexity", total=1)[0] == ["p5"]


def test_bands_need_a_scored_by_and_the_column_it_reads():
    with pytest.raises(BadInput, match="--band and --quantile are windows on --by perplexity"):
        ids(scored(), by="length", band=parse_window("1:2", "--band"))
    with pytest.raises(BadInput, match="divergence"):
        ids(scored().drop("divergence"), by="divergence", band=parse_window("0:1", "--band"))
    with pytest.raises(BadInput, match="between 0 and 1"):
        ids(scored(), by="divergence", quantile=parse_window("0:2", "--quantile"))
