"""Math answers: a numeric fast path for plain-number golds (GSM8K, AIME, AMC), math-verify for the rest.

math-verify's own SIGALRM timeouts are switched off (parsing_timeout=None, timeout_seconds=None): they only work
on a process's main thread and would fight the pool, which bounds every item by killing its worker process.
"""

from __future__ import annotations

import logging
import re
from functools import lru_cache

from distill_cli.stages.verify.config import Verdict
from distill_cli.stages.verify.extract import (
    as_number,
    final_response,
    normalize_text,
    numeric_candidate,
    same_number,
)

MV = "math-verify"
NUMERIC = "numeric"
_WORDS = re.compile(r"[A-Za-z][A-Za-z ,.'-]*")


@lru_cache(maxsize=1)
def _mv():
    """Import math-verify once per process, quietly (it warns that its timeouts are disabled: we know)."""
    import math_verify

    logging.getLogger("math_verify").setLevel(logging.CRITICAL)
    return math_verify


@lru_cache(maxsize=2)
def _pred_config(anchored_only: bool) -> tuple:
    mv = _mv()
    return (mv.LatexExtractionConfig(boxed_match_priority=0, try_extract_without_anchor=not anchored_only),
            mv.ExprExtractionConfig(try_extract_without_anchor=not anchored_only))


@lru_cache(maxsize=8192)
def parse_gold(answer: str) -> tuple:
    """Gold answers repeat once per sample, so their parse is cached per worker."""
    mv = _mv()
    text = answer.strip()
    if "\\boxed" not in text:
        if _WORDS.fullmatch(text) and len(text.replace(" ", "")) > 1:
            text = f"\\text{{{text}}}"
        text = f"${text.strip('$')}$"
    config = (mv.LatexExtractionConfig(), mv.ExprExtractionConfig())
    return tuple(mv.parse(text, config, parsing_timeout=None))


def verify_math(response: str | None, answer: str | None, finish_reason: str | None = None) -> Verdict:
    text = final_response(response)
    if answer is None or not str(answer).strip():
        return Verdict("unverifiable", 0.0, None, MV, "no_reference")
    if text is None or not text.strip():
        return Verdict("no_answer", 0.0, None, MV, "reasoning_unfinished" if text is None else "empty_response")
    truncated = finish_reason == "length"
    gold_number = as_number(answer)
    if gold_number is not None:
        verdict = _numeric(text, gold_number, truncated)
        if verdict is not None:
            return verdict
    return _math_verify(text, str(answer), truncated)


def _numeric(text: str, gold: float, truncated: bool) -> Verdict | None:
    """Plain-number gold against the last boxed value or last number; None hands over to math-verify."""
    from distill_cli.answers import boxed_spans

    if truncated and not boxed_spans(text):
        return None  # a cut-off response: only an anchored answer counts, which math-verify looks for
    candidate = numeric_candidate(text)
    if candidate is None:
        return Verdict("no_answer", 0.0, None, NUMERIC, "no_number")
    value = as_number(candidate)
    if value is None:
        return None
    ok = same_number(value, gold)
    return Verdict("correct" if ok else "incorrect", 1.0 if ok else 0.0, candidate.strip(), NUMERIC)


def _math_verify(text: str, answer: str, truncated: bool) -> Verdict:
    mv = _mv()
    gold = parse_gold(answer)
    if not gold or all(isinstance(g, str) for g in gold) and not _WORDS.fullmatch(normalize_text(answer)):
        # only math-verify's raw-string fallback came back: the reference itself is not math we can read
        return Verdict("unverifiable", 0.0, None, MV, "reference_unparsable")
    pred = mv.parse(text, _pred_config(truncated), parsing_timeout=None)
    if not pred:
        return Verdict("no_answer", 0.0, None, MV, "truncated" if truncated else "no_answer_found")
    extracted = str(pred[-1] if len(pred) > 1 else pred[0])
    ok = bool(mv.verify(list(gold), pred, timeout_seconds=None))
    if not ok and isinstance(gold[-1], str) and normalize_text(gold[-1]) == normalize_text(extracted):
        ok = True  # text answers ("Evelyn", "\\text{(C)}") that sympy cannot compare
    return Verdict("correct" if ok else "incorrect", 1.0 if ok else 0.0, extracted, MV)
