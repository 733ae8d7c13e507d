"""Math and numeric verdicts on real benchmark gold answers, rewritten correctly and incorrectly."""

from __future__ import annotations

import pytest
from verify_fixtures import jsonl

from distill_cli.answers import gsm8k_final
from distill_cli.stages.verify.core import VerifyConfig, verify_one
from distill_cli.stages.verify.extract import as_number

CFG = VerifyConfig()


def _check(response: str, answer: str, finish_reason: str | None = None):
    return verify_one(response, answer, "math", None, CFG, finish_reason=finish_reason)


def _wrong(gold: str) -> str:
    n = as_number(gold)
    if n is None:
        return f"{gold}+1"
    return str(int(n) + 1) if n == int(n) else str(n + 1)


def _math500_rewrites(rows: list[dict]) -> tuple[list, list]:
    """Correct rewrite: gold boxed after </think>, a different wrong boxed answer inside the reasoning (ignored).
    Incorrect rewrite: the gold boxed inside the reasoning only, a changed answer boxed after it."""
    wrong_verdicts, right_verdicts = [], []
    for row in rows:
        gold = row["answer"]
        right = f"<think>Maybe it is \\boxed{{7777}}. No.</think>\nSo the final answer is $\\boxed{{{gold}}}$."
        wrong = f"<think>Is it \\boxed{{{gold}}}? Let me recheck.</think>\nThe answer is $\\boxed{{{_wrong(gold)}}}$."
        right_verdicts.append((gold, _check(right, gold).verdict))
        wrong_verdicts.append((gold, _check(wrong, gold).verdict))
    return right_verdicts, wrong_verdicts


def test_math500_sample_golds_accept_themselves_and_reject_changes():
    rows = jsonl("math500_test.jsonl")[::5]
    right, wrong = _math500_rewrites(rows)
    assert [g for g, v in right if v != "correct"] == []
    assert [g for g, v in wrong if v != "incorrect"] == []


@pytest.mark.slow
def test_math500_all_golds():
    right, wrong = _math500_rewrites(jsonl("math500_test.jsonl"))
    assert [g for g, v in right if v != "correct"] == []
    assert [g for g, v in wrong if v != "incorrect"] == []


@pytest.mark.parametrize("name", ["aime2024_test.jsonl", "aime2025_I.jsonl", "aime2025_II.jsonl",
                                  "amc2023_test.jsonl"])
def test_competition_golds_zero_padded_and_float(name):
    for row in jsonl(name):
        gold = str(row["answer"])  # AIME "025", AMC 27.0 as collect stores it: "27.0"
        value = int(float(gold))
        assert _check(f"<think>\\boxed{{{value + 3}}}</think>Thus \\boxed{{{value}}}.", gold).verdict == "correct"
        assert _check(f"Thus the answer is \\boxed{{{value + 1}}}.", gold).verdict == "incorrect"


@pytest.mark.parametrize(("gold", "response", "verdict"), [
    ("025", "The answer is \\boxed{25}", "correct"),
    ("27.0", "\\boxed{27}", "correct"),
    ("\\dfrac{1}{2}", "\\boxed{\\frac12}", "correct"),
    ("\\frac{1}{2}", "\\boxed{\\dfrac{1}{2}}", "correct"),
    ("50\\%", "\\boxed{50}", "correct"),
    ("50\\%", "\\boxed{50\\%}", "correct"),
    ("30^\\circ", "\\boxed{30}", "correct"),
    ("30^{\\circ}", "\\boxed{30^\\circ}", "correct"),
    ("1,\\!000", "\\boxed{1000}", "correct"),
    ("1,000", "\\boxed{1000}", "correct"),
    ("1000", "\\boxed{1,000}", "correct"),
    ("10\\text{ cm}", "\\boxed{10}", "correct"),
    ("10", "\\boxed{10 \\text{ cm}}", "correct"),
    ("[2,5)", "\\boxed{[2,5)}", "correct"),
    ("[2,5)", "\\boxed{(2,5)}", "incorrect"),
    ("(1,2)", "\\boxed{(1, 2)}", "correct"),
    ("(1,2)", "\\boxed{(2, 1)}", "incorrect"),
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\boxed{\\begin{pmatrix}1\\\\2\\end{pmatrix}}", "correct"),
    ("\\begin{pmatrix} 1 \\\\ 2 \\end{pmatrix}", "\\boxed{\\begin{pmatrix}2\\\\1\\end{pmatrix}}", "incorrect"),
    ("\\text{Evelyn}", "\\boxed{\\text{Evelyn}}", "correct"),
    ("Evelyn", "The winner is \\boxed{\\text{Evelyn}}", "correct"),
    ("\\text{Evelyn}", "\\boxed{\\text{Bob}}", "incorrect"),
    ("3\\sqrt{2}", "\\boxed{\\sqrt{18}}", "correct"),
    ("x^2+1", "\\boxed{1+x^2}", "correct"),
    ("\\$32", "She pays \\boxed{\\$32}.", "correct"),
    ("5", "\\boxed{6}", "incorrect"),
])
def test_formatting_variants(gold, response, verdict):
    assert _check(response, gold).verdict == verdict


def test_gsm8k_numeric_last_number_or_boxed():
    rows = jsonl("gsm8k_test.jsonl")[:200]
    for row in rows:
        gold = gsm8k_final(row["answer"])
        value = float(gold)
        shown = f"{int(value):,}" if value == int(value) else gold  # thousands separators as models write them
        assert _check(f"<think>maybe {value + 7}</think>She makes ${shown} in total.", gold).verdict == "correct"
        assert _check(f"So the answer is \\boxed{{{gold}}}.", gold).verdict == "correct"
        wrong = _check(f"Adding up, we get {value + 2:g} dollars.", gold)
        assert (wrong.verdict, wrong.verifier) == ("incorrect", "numeric")


def test_boxed_beats_later_numbers_and_reasoning_is_ignored():
    assert _check("\\boxed{18}. Check: 9 * 2 = 18 uses 2 steps", "18").verdict == "correct"
    assert _check("<think>\\boxed{25}</think> I am not sure.", "25").verdict == "no_answer"
    assert _check("<think>it is \\boxed{25}", "25").verdict == "no_answer"  # cut off while thinking


def test_truncated_response_needs_an_anchored_answer():
    assert _check("we compute 3+4 = 7 and then", "7", finish_reason="length").verdict == "no_answer"
    assert _check("we compute 3+4 = 7 and then", "\\frac{1}{2}", finish_reason="length").verdict == "no_answer"
    assert _check("so it is \\boxed{\\dfrac{1}{2}}", "\\frac12", finish_reason="length").verdict == "correct"
    assert _check("we compute 3+4 = 7", "7", finish_reason="stop").verdict == "correct"


@pytest.mark.parametrize("gold", ["\\frac{", "\\begin{asy}", "???", "}{", "\\text{}"])
def test_unparsable_reference_is_unverifiable(gold):
    verdict = _check("\\boxed{5}", gold)
    assert (verdict.verdict, verdict.reason) == ("unverifiable", "reference_unparsable")


def test_missing_reference_is_unverifiable():
    assert _check("\\boxed{5}", None).verdict == "unverifiable"
    assert _check("\\boxed{5}", "  ").verdict == "unverifiable"
