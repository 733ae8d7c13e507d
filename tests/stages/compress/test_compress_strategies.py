"""Each strategy's exact cut on R1-style traces, compared with the real verifier."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # `tests.*` helpers (no tests/__init__.py)

from distill_cli.stages.compress.first_correct import first_correct  # noqa: E402
from distill_cli.stages.compress.reflections import dedupe_reflections, drop_repeats, is_reflection  # noqa: E402
from distill_cli.stages.compress.text import paragraphs  # noqa: E402
from distill_cli.stages.compress.trim import is_filler, trim  # noqa: E402
from tests.stages.compress import compress_fixtures  # noqa: E402
from tests.stages.compress.compress_traces import (  # noqa: E402
    DIVISORS_PARAS,
    FRACTION_PARAS,
    JANET_PARAS,
)

equal = compress_fixtures.equal


def _r(paras: list[str]) -> str:
    return "\n\n".join(paras)


def test_trim_cuts_after_the_settled_final_answer_plus_allowance(equal):
    rows = [(_r(JANET_PARAS), "18", "math"), (_r(FRACTION_PARAS), "\\frac{14}{3}", "math"),
            (_r(DIVISORS_PARAS), "9", "math")]
    out = trim(rows, allowance=1, equal=equal)
    # Janet: "Hmm." is filler; 18 is settled at "9 * 2 = 18", one more paragraph is allowed
    assert paragraphs(out[0]) == [JANET_PARAS[0]] + JANET_PARAS[2:6]
    # 14/3 first appears as \frac{14}{3} (equal under the verifier), then one double-check paragraph
    assert paragraphs(out[1]) == FRACTION_PARAS[:6]
    # the early wrong answer 6 is not the settled statement: the cut is after "So the answer is 9." + 1
    assert paragraphs(out[2]) == DIVISORS_PARAS[:5]


def test_trim_allowance_zero_and_unknown_final_answer(equal):
    out = trim([(_r(JANET_PARAS), "18", "math"), (_r(JANET_PARAS), None, "math")], allowance=0, equal=equal)
    assert paragraphs(out[0]) == [JANET_PARAS[0]] + JANET_PARAS[2:5]
    # without a final answer only the filler goes
    assert paragraphs(out[1]) == [p for p in JANET_PARAS if p != "Hmm."]


def test_trim_never_cuts_before_a_later_different_answer(equal):
    paras = ["So the answer is 12.", "Wait, that is wrong: the answer is 13.", "No: 5 + 7 = 12.", "Yes, 12."]
    out = trim([(_r(paras), "12", "math")], allowance=0, equal=equal)
    assert paragraphs(out[0]) == paras[:3]


def test_filler_and_reflection_markers():
    assert is_filler("Hmm.") and is_filler("Okay, let me think.") and is_filler("Wait...")
    assert not is_filler("Hmm, so the answer is 9.")
    assert is_reflection("Wait, let me double-check.") and is_reflection("Alternatively, the total value")
    assert is_reflection("Let me double-check the sum") and not is_reflection("Waiting times add up to 5.")


def test_dedupe_drops_exact_and_near_repeats():
    check = ("Let me compute the sum again to be careful. For f(-2) the numerator is 3(-2) - 2 = -8 and the "
             "denominator is -2 - 2 = -4, so f(-2) = 2. For f(-1) it is -5 over -3, which is 5/3, and f(0) = 1. "
             "So adding them gives 2 + 1 = 3 and 3 + 5/3 = 14/3.")
    paras = [
        check,
        check.replace(" = ", "=").replace(".", ""),  # spacing and punctuation only: an exact repeat
        check.replace("So adding them gives", "So adding gives").replace("2 + 1", "$2 + 1$"),  # near-exact
        "Yes.",
        "Yes.",  # short paragraphs are left to the reflection rule
        "A different computation: 14/3 is about 4.67.",
    ]
    assert drop_repeats(paras, 0.9) == [paras[0], paras[3], paras[4], paras[5]]
    assert drop_repeats(paras, 1.0) == [paras[0], paras[2], paras[3], paras[4], paras[5]]


def test_dedupe_reflections_exact_cut_on_janet():
    out = dedupe_reflections(_r(JANET_PARAS), max_reflections=2, threshold=0.9)
    # "Hmm." opens a long episode (new work, kept); the loop of short re-checks keeps its first two episodes
    assert paragraphs(out) == JANET_PARAS[:8]
    out = dedupe_reflections(_r(JANET_PARAS), max_reflections=0, threshold=0.9)
    assert paragraphs(out) == JANET_PARAS[:6]
    assert dedupe_reflections(_r(DIVISORS_PARAS), max_reflections=5, threshold=0.9) is None  # nothing removed


def test_dedupe_reflections_on_fraction_drops_the_repeat_then_limits_the_loop():
    out = dedupe_reflections(_r(FRACTION_PARAS), max_reflections=1, threshold=0.9)
    assert paragraphs(out) == FRACTION_PARAS[:6]


def test_first_correct_cuts_at_the_first_paragraph_stating_the_reference(equal):
    rows = [(_r(JANET_PARAS), "18", "math"), (_r(FRACTION_PARAS), "14/3", "math"),
            (_r(DIVISORS_PARAS), "9", "math"), (_r(DIVISORS_PARAS), "10", "math"),
            (_r(JANET_PARAS), "18", "code")]
    out = first_correct(rows, extra_steps=0, equal=equal)
    assert paragraphs(out[0]) == JANET_PARAS[:5]  # "9 * 2 = 18."
    assert paragraphs(out[1]) == FRACTION_PARAS[:5]  # "\frac{14}{3}" equals the reference 14/3
    assert paragraphs(out[2]) == DIVISORS_PARAS[:4]  # skips the wrong "answer is 6"
    assert out[3] is None  # never states the reference: not cut
    assert out[4] is None  # code has no final answer to reach
    out = first_correct(rows[:1], extra_steps=2, equal=equal)
    assert paragraphs(out[0]) == JANET_PARAS[:7]
