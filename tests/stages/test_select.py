"""select's pure core on hand-computed cases: windows, filters, the difficulty mix, K per prompt, DPO pairs."""

from __future__ import annotations

import polars as pl
import pytest

from distill_cli.errors import BadInput
from distill_cli.stages.select.core import (
    SelectConfig,
    Window,
    parse_distribution,
    parse_window,
    select_frame,
)
from distill_cli.stages.select.sample import exact_total, targets_for


def graded(spec: list[tuple]) -> pl.LazyFrame:
    """(id, model, verdict, pass_rate, difficulty, score_cv, completion_tokens) rows; sample numbered per group."""
    cols = ["id", "model", "verdict", "pass_rate", "difficulty", "score_cv", "completion_tokens"]
    df = pl.DataFrame(spec, schema=cols, orient="row")
    return df.with_columns(pl.int_range(pl.len()).over("id", "model").alias("sample"), domain=pl.lit("math")).lazy()


def bands(counts: dict[str, int], traces: int = 1) -> pl.LazyFrame:
    """`counts[band]` prompts per band, each with `traces` correct traces."""
    rate = {"hard": 0.2, "medium": 0.5, "easy": 0.8}
    spec = [(f"{band}{i:03d}", "m", "correct", rate[band], band, 0.5, 100 + t)
            for band, n in counts.items() for i in range(n) for t in range(traces)]
    return graded(spec)


def ids(out: pl.DataFrame) -> list[str]:
    return out.get_column("id").unique(maintain_order=True).to_list()


def run(lf: pl.LazyFrame, **kw) -> tuple[pl.DataFrame, dict, list[str]]:
    return select_frame(lf, SelectConfig(**kw))


@pytest.mark.parametrize("text, kept", [
    ("0.1:0.9", ["p10", "p50", "p90"]),
    ("[0.1:0.9]", ["p10", "p50", "p90"]),
    ("(0.1:0.9)", ["p50"]),
    ("(0:1)", ["p10", "p50", "p90"]),
    ("0:1", ["p0", "p10", "p50", "p90", "p100"]),
    ("[0.1:0.9)", ["p10", "p50"]),
    (":0.5", ["p0", "p10", "p50"]),
    ("(0.5:", ["p90", "p100"]),
])
def test_pass_rate_window_edges(text, kept):
    lf = graded([(f"p{round(r * 100)}", "m", "correct", r, "x", 0.1, 10) for r in (0.0, 0.1, 0.5, 0.9, 1.0)])
    out, stats, _ = run(lf, pass_rate=parse_window(text, "--pass-rate"))
    assert ids(out) == kept
    assert stats["dropped"]["pass_rate"] == 5 - len(kept)


def test_window_parse_errors_and_display():
    assert parse_window(" ( 0 : 1 ) ", "--pass-rate") == Window(0.0, 1.0, True, True)
    assert str(parse_window("[0.1:0.9)", "--pass-rate")) == "[0.1:0.9)"
    for bad in ("0.5", "a:b", "0.9:0.1", "0:1:2"):
        with pytest.raises(BadInput, match="--pass-rate"):
            parse_window(bad, "--pass-rate")


def test_pass_rate_window_uses_the_reference_rate_when_present():
    lf = graded([("p", "m", "correct", 1.0, "hard", None, 1)]).with_columns(ref_pass_rate=pl.lit(0.2))
    out, _, _ = run(lf, pass_rate=parse_window("(0:0.5]", "--pass-rate"))
    assert ids(out) == ["p"]


def test_row_filters_count_their_drops_in_order():
    lf = graded([
        ("a", "m", "correct", 0.5, "medium", 0.2, 100),
        ("a", "m", "incorrect", 0.5, "medium", 0.2, 100),   # not_correct
        ("b", "m", "correct", 0.9, "easy", 0.1, 100),       # difficulty
        ("c", "m", "correct", 0.2, "hard", 0.9, 100),       # cv
        ("d", "m", "correct", 0.2, "hard", None, 100),      # cv (undefined fails)
        ("e", "m", "correct", 0.2, "hard", 0.1, 5000),      # length
        ("f", "other", "correct", 0.2, "hard", 0.1, 100),   # model
    ])
    out, stats, _ = run(lf, keep=("hard", "medium"), max_cv=0.5, models=("m",),
                        length_tokens=parse_window("10:1000", "--length-tokens"))
    assert ids(out) == ["a"]
    assert stats["dropped"] == {"model": 1, "not_correct": 1, "difficulty": 1, "cv": 2, "length": 1}
    assert stats["rows_in"] == 7 and stats["prompts_in"] == 6 and stats["prompts_out"] == 1
    everything, _, _ = run(lf, correct_only=False)
    assert everything.height == 7


def test_unknown_model_and_domain_filter():
    lf = graded([("a", "m", "correct", 0.5, "medium", 0.2, 1)])
    with pytest.raises(BadInput, match="models present: m"):
        run(lf, models=("x",))
    out, stats, warnings = run(lf, domains=("code",))
    assert out.height == 0 and stats["dropped"]["domain"] == 1
    assert warnings == ["no rows selected; see the dropped counts in _stats.json"]


def test_options_name_the_columns_they_miss():
    lf = graded([("a", "m", "correct", 0.5, "medium", 0.2, 1)])
    with pytest.raises(BadInput, match="lacks column.*pass_rate"):
        run(lf.drop("pass_rate"), total=1)
    with pytest.raises(BadInput, match="lacks column.*completion_tokens"):
        run(lf.drop("completion_tokens"), per_prompt=1)
    assert run(lf.drop("completion_tokens"), per_prompt=1, prefer="first")[0].height == 1


def test_distribution_hits_the_mix_exactly_with_supply():
    lf = bands({"hard": 20, "medium": 20, "easy": 20}, traces=2)
    out, stats, warnings = run(lf, distribution=parse_distribution("hard=0.5,medium=0.3,easy=0.2"), total=10)
    assert stats["difficulty_out"] == {"easy": 2, "hard": 5, "medium": 3}
    assert stats["requested"] == {"hard": 5, "medium": 3, "easy": 2} and stats["shortfall"] == {}
    assert out.height == 20 and warnings == []  # every trace of a chosen prompt stays


def test_distribution_reports_the_shortfall_without_backfilling():
    lf = bands({"hard": 2, "medium": 20, "easy": 20})
    out, stats, warnings = run(lf, distribution=parse_distribution("hard=0.5,medium=0.3,easy=0.2"), total=10)
    assert stats["difficulty_out"] == {"easy": 2, "hard": 2, "medium": 3}
    assert stats["shortfall"] == {"hard": 3}
    assert len(warnings) == 1 and "hard short by 3" in warnings[0]


def test_distribution_without_total_takes_the_largest_exact_mix():
    lf = bands({"hard": 7, "medium": 20, "easy": 2})
    _, stats, warnings = run(lf, distribution=parse_distribution("hard=5,medium=3,easy=2"))
    assert stats["difficulty_out"] == {"easy": 2, "hard": 5, "medium": 3} and warnings == []


def test_distribution_is_deterministic_under_a_seed_and_changes_with_it():
    lf = bands({"hard": 50, "medium": 50, "easy": 50})
    dist = parse_distribution("hard=0.4,medium=0.4,easy=0.2")
    first, _, _ = run(lf, distribution=dist, total=10, seed=7)
    again, _, _ = run(lf, distribution=dist, total=10, seed=7)
    other, _, _ = run(lf, distribution=dist, total=10, seed=8)
    assert ids(first) == ids(again)
    assert set(ids(first)) != set(ids(other))


def test_distribution_needs_one_difficulty_per_prompt_and_by_difficulty():
    lf = graded([("a", "m", "correct", 0.2, "hard", 0.1, 1), ("a", "n", "correct", 0.9, "easy", 0.1, 1)])
    with pytest.raises(BadInput, match="different difficulty per model"):
        run(lf, distribution=parse_distribution("hard=1"), total=1)
    with pytest.raises(BadInput, match="--by difficulty"):
        run(lf, by="cv", distribution=parse_distribution("hard=1"))


def test_targets_sum_exactly_and_exact_total_never_overshoots():
    dist = parse_distribution("a=1,b=1,c=1")
    assert targets_for(dist, 10) == {"a": 4, "b": 3, "c": 3}
    assert sum(targets_for(parse_distribution("a=0.5,b=0.3,c=0.2"), 7).values()) == 7
    assert exact_total(parse_distribution("a=0.5,b=0.3,c=0.2"), {"a": 5, "b": 100, "c": 100}) == 10
    assert exact_total(dist, {"a": 3, "b": 3}) == 0


@pytest.mark.parametrize("by, expected", [("pass-rate", ["hard"]), ("difficulty", ["hard"]), ("cv", ["cv"]),
                                          ("length", ["long"])])
def test_total_ranks_prompts_by(by, expected):
    lf = graded([("hard", "m", "correct", 0.1, "hard", 0.2, 10), ("cv", "m", "correct", 0.5, "medium", 0.9, 10),
                 ("long", "m", "correct", 0.9, "easy", 0.1, 9000)])
    out, stats, _ = run(lf, by=by, total=1)
    assert ids(out) == expected and stats["dropped"]["total"] == 2


def per_prompt_rows() -> pl.LazyFrame:
    return graded([("p", "m", "correct", 0.75, "easy", 0.5, n) for n in (300, 100, 400, 200)]
                  + [("p", "m", "incorrect", 0.75, "easy", 0.5, 50)])


@pytest.mark.parametrize("prefer, tokens", [("shortest", [100, 200]), ("longest", [300, 400]),
                                            ("first", [300, 100])])
def test_per_prompt_k_keeps_the_preferred_correct_traces_in_input_order(prefer, tokens):
    out, stats, _ = run(per_prompt_rows(), per_prompt=2, prefer=prefer)
    assert out.get_column("completion_tokens").to_list() == tokens
    assert stats["dropped"] == {"not_correct": 1, "per_prompt": 2}


def test_per_prompt_random_is_seeded():
    lf = graded([(f"p{i}", "m", "correct", 0.5, "medium", 0.1, n) for i in range(30) for n in range(6)])
    picks = {seed: run(lf, per_prompt=1, prefer="random", seed=seed)[0] for seed in (1, 2)}
    again = run(lf, per_prompt=1, prefer="random", seed=1)[0]
    assert picks[1].height == 30 and picks[1].equals(again)
    assert picks[1].get_column("sample").to_list() != picks[2].get_column("sample").to_list()


def test_pairs_keep_one_correct_and_one_incorrect_per_prompt_and_model():
    lf = graded([
        ("p", "m", "correct", 0.5, "medium", 0.2, 300), ("p", "m", "incorrect", 0.5, "medium", 0.2, 900),
        ("p", "m", "correct", 0.5, "medium", 0.2, 200), ("p", "m", "incorrect", 0.5, "medium", 0.2, 700),
        ("p", "m", "no_answer", 0.5, "medium", 0.2, 10),
        ("q", "m", "correct", 1.0, "trivial", 0.0, 100),  # nothing to reject: no pair
    ])
    out, stats, _ = run(lf, pairs=True)
    assert out.select("pair_id", "pair_role", "verdict", "completion_tokens").rows() == [
        ("p:m", "chosen", "correct", 200), ("p:m", "rejected", "incorrect", 700)]
    assert stats["dropped"]["no_pair"] == 4
    with pytest.raises(BadInput, match="--per-prompt"):
        run(lf, pairs=True, per_prompt=1)


def test_distribution_parse_errors():
    for bad in ("hard", "hard=-1", "hard=0", "hard=1,hard=2", "=1"):
        with pytest.raises(BadInput, match="--distribution"):
            parse_distribution(bad)
