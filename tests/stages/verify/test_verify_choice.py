"""Multiple-choice letter extraction and text-domain exact match."""

from __future__ import annotations

import pytest

from distill_cli.stages.verify.core import VerifyConfig, row_domain, verify_one

CFG = VerifyConfig()


@pytest.mark.parametrize("response", [
    "The answer is (C)",
    "The answer is C.",
    "\\boxed{C}",
    "$\\boxed{\\text{(C)}}$",
    "Answer: C",
    "After weighing the options, **C**",
    "**(C)** is right",
    "C",
    "<think>The answer is (A)... no.</think>\nFinal answer: (C)",
    "I first thought (B) but the final answer is C",
])
def test_letter_found(response):
    verdict = verify_one(response, "C", "choice", None, CFG)
    assert (verdict.verdict, verdict.extracted) == ("correct", "C")


@pytest.mark.parametrize(("response", "verdict"), [
    ("The answer is (B)", "incorrect"),
    ("I cannot decide.", "no_answer"),
    ("<think>The answer is (C)", "no_answer"),
    ("<think>The answer is (C)</think> no idea", "no_answer"),
])
def test_wrong_or_missing_letter(response, verdict):
    assert verify_one(response, "C", "choice", None, CFG).verdict == verdict


@pytest.mark.parametrize("gold", ["C", "(C)", "C)", "C. 42 apples", "\\text{(C)}"])
def test_gold_letter_forms(gold):
    assert verify_one("The answer is C", gold, "choice", None, CFG).verdict == "correct"


def test_gold_that_is_not_a_letter_is_unverifiable():
    assert verify_one("The answer is C", "forty-two", "choice", None, CFG).verdict == "unverifiable"


def test_text_domain_exact_match_or_unverifiable():
    assert verify_one("The capital is \\boxed{Paris}.", "paris", "text", None, CFG).verdict == "correct"
    assert verify_one("Answer: Lyon", "Paris", "text", None, CFG).verdict == "incorrect"
    ungraded = verify_one("Some essay.", None, "text", None, CFG)
    assert (ungraded.verdict, ungraded.verifier) == ("unverifiable", "none")


def test_auto_domain_guess():
    assert row_domain(None, "C", None) == "choice"
    assert row_domain(None, "42", None) == "math"
    assert row_domain(None, None, '["assert f()"]') == "code"
    assert row_domain(None, None, None) == "text"
    assert row_domain("math", "C", None) == "math"
    assert row_domain("math", "42", None, forced="text") == "text"
