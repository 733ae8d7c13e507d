"""Each filter check on its own, on small frames of real-looking traces (MATH-500 problems and solutions)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from filter_traces import CHINESE, SPANISH, math500, thinking, trace

from distill_cli.stages.filter import FilterConfig, checks, filter_frame
from distill_cli.stages.filter.language import foreign_language_share, foreign_script_share
from distill_cli.stages.filter.repetition import repetition, window_hashes

ONLY = dict(truncated=False, think="off", empty_answer=False, max_repeated_share=None, max_repeated_span=None,
            max_foreign_script=None, max_foreign_language=None, multiple_answers=False, unsupported_answer=False,
            refusals=())


@pytest.fixture(scope="module")
def items() -> list[dict]:
    return math500(6)


def frame(rows: list[dict]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema_overrides={"planted": pl.String, "reasoning": pl.String})


def flagged(df: pl.DataFrame, **on) -> list[int]:
    """Row indices the filter drops with only the given checks on."""
    return filter_frame(df, FilterConfig(**{**ONLY, **on})).filtered["row"].to_list()


def test_truncated_is_finish_reason_length(items):
    df = frame([trace(items[0]), trace(items[1], finish="length"), trace(items[2], finish=None)])
    assert df.select(checks.truncated())["finish_reason"].to_list() == [False, True, False]
    assert flagged(df, truncated=True) == [1]


def test_think_unclosed_with_and_without_completion(items):
    df = frame([trace(items[0]), trace(items[1], closed=False), trace(items[2], reasoning=False)])
    assert df.select(checks.think_unclosed(df.columns)).to_series().to_list() == [False, True, False]
    bare = df.drop("completion")
    assert bare.select(checks.think_unclosed(bare.columns)).to_series().to_list() == [False, True, False]


def test_think_missing_follows_the_model(items):
    rows = [trace(items[0]), trace(items[1]), trace(items[2], reasoning=False)]
    plain = {**trace(items[3], reasoning=False), "model": "no-thinker"}
    df = frame([*rows, plain])
    assert flagged(df, think="auto") == [2]  # no-thinker never thinks: not a defect for it
    assert flagged(df, think="required") == [2, 3]
    assert flagged(df, think="off") == []


def test_empty_answer(items):
    df = frame([trace(items[0]), trace(items[1], response="  \n"), trace(items[2])])
    assert flagged(df, empty_answer=True) == [1]


def test_window_hashes_equal_windows_hash_equal():
    words = np.array([5, 6, 7, 8, 5, 6, 7, 9], dtype=np.uint64)
    h = window_hashes(words, 3)
    assert len(h) == 6 and h[0] == h[4] and len(set(h.tolist())) == 5
    assert len(window_hashes(words, 9)) == 0


def test_repetition_counts_repeated_ngrams_and_the_longest_span():
    base = " ".join(f"w{i}" for i in range(100))
    loop = " ".join(f"a{i}" for i in range(30))
    texts = pl.Series([base, f"{base} {loop} {loop} x {loop}", "too short", None, " ".join([loop] * 5)])
    got = repetition(texts, 20, batch_rows=2)  # batches split the rows: results must not depend on them
    assert got["repeated_span"].to_list() == [0, 30, 0, 0, 120]
    # 172 windows in row 1, of which 11 + 11 repeat; row 4: 131 windows, 101 repeat
    assert got["repeated_share"].to_list() == pytest.approx([0, 22 / 172, 0, 0, 101 / 131])


def test_repetition_drops_a_looping_trace_and_keeps_real_reasoning(items):
    paras = thinking(items[0]["solution"])
    loop = "Wait, let me recompute this again carefully, since the value I found must satisfy every condition."
    df = frame([trace(items[1]), trace(items[0], paras=[*paras[:2], *[loop] * 12, *paras[2:]]), trace(items[2])])
    assert flagged(df, max_repeated_share=0.2) == [1]
    assert flagged(df, max_repeated_span=100) == [1]
    assert flagged(df, max_repeated_span=400) == []  # a 12-fold loop of 17 words is ~200 words long


def test_foreign_script_share(items):
    paras = thinking(items[0]["solution"])
    english = trace(items[0])
    switched = trace(items[0], paras=[*paras, CHINESE])
    chinese_prompt = {**trace(items[1], paras=[CHINESE]), "prompt": "计算下面的式子。" + CHINESE[:20]}
    greek = trace(items[2], paras=["Since θ = π/2 and α + β = π, we get sin θ = 1."])
    share = foreign_script_share(frame([english, switched, chinese_prompt, greek])).to_list()
    assert share[0] == 0 and share[2] == 0 and share[3] == 0  # math's Greek letters are not a script switch
    assert 0.02 < share[1] < 0.5


def test_foreign_language_share(items):
    paras = thinking(items[0]["solution"])
    spanish = trace(items[0], paras=[*paras[:2], *SPANISH])
    mathy = {**trace(items[1], paras=SPANISH), "prompt": "Compute $\\int_0^1 x^2\\,dx$."}
    share = foreign_language_share(frame([trace(items[0]), spanish, mathy]), k=6).to_list()
    assert share[0] == 0
    assert share[1] > 0.5
    assert share[2] == 0  # the prompt's language is unknown (it is all math): nothing to compare with


def test_boxed_answers_are_unwrapped_and_normalized():
    df = pl.DataFrame({"t": ["so $\\boxed{\\dfrac{1}{2}}$ or \\boxed{ \\frac{1}{2} }", "\\boxed{\\text{(C)}}.",
                             "no box", "\\boxed{\\frac{\\sqrt{3}}{2}}"]})
    got = df.select(checks.boxed_answers(pl.col("t"))).to_series().to_list()
    assert got == [["\\frac{1}{2}", "\\frac{1}{2}"], ["(C)"], [], ["\\frac{\\sqrt{3}}{2}"]]


def test_answers_disagree(items):
    agree = trace(items[0], response="$\\boxed{\\dfrac{1}{2}}$, that is $\\boxed{ \\frac{1}{2} }$.")
    differ = trace(items[1], response="First $\\boxed{3}$, then finally $\\boxed{4}$.")
    assert flagged(frame([agree, differ, trace(items[2])]), multiple_answers=True) == [1]


def test_answer_unsupported(items):
    unsupported = trace(items[0], response="The final answer is $\\boxed{\\frac{123}{457}}$.")
    plain_ok = trace(items[1], reasoning=False,
                     response="We compute 6 * 7 = 42.\n\nThe answer is $\\boxed{42}$.")
    plain_bad = trace(items[2], reasoning=False, response="We compute things.\n\nThe answer is $\\boxed{42}$.")
    no_box = trace(items[3], response="The answer is 5.")
    df = frame([trace(items[4]), unsupported, plain_ok, plain_bad, no_box])
    assert flagged(df, unsupported_answer=True) == [1, 3]


def test_refusals_default_and_user_patterns(items):
    paras = thinking(items[0]["solution"])
    legit = trace(items[0], paras=[*paras, "I cannot divide by zero here, so x is not 2."])
    refusal = trace(items[1], response="I'm sorry, but I can't help with that.")
    meta = trace(items[2], paras=["As an AI language model, I will now solve this.", *paras])
    custom = trace(items[3], response="As of my last update, the answer is $\\boxed{5}$.")
    df = frame([legit, refusal, meta, custom])
    from distill_cli.stages.filter import DEFAULT_REFUSALS

    assert flagged(df, refusals=DEFAULT_REFUSALS) == [1, 2]
    assert flagged(df, refusals=(*DEFAULT_REFUSALS, r"as of my last update")) == [1, 2, 3]
    assert checks.check_pattern("(unclosed") is not None and checks.check_pattern("a|b") is None


def test_perplexity_bounds(items):
    df = frame([trace(items[0]), trace(items[1]), trace(items[2])]).with_columns(
        perplexity=pl.Series([1.1, 3.0, 40.0]))
    assert flagged(df, max_perplexity=20.0) == [2]
    assert flagged(df, min_perplexity=1.5) == [0]
    got = filter_frame(df, FilterConfig(**{**ONLY, "max_perplexity": 20.0, "min_perplexity": 1.5}))
    assert got.filtered["reason"].to_list() == ["perplexity_low", "perplexity_high"]
    assert got.stats["dropped"] == {"perplexity_high": 1, "perplexity_low": 1}
