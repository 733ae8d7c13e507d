"""Multiple choice: find the chosen letter in the final response and compare it with the gold letter."""

from __future__ import annotations

import re

from distill_cli.answers import boxed_spans
from distill_cli.stages.verify.config import Verdict
from distill_cli.stages.verify.extract import final_response

CHOICE = "choice"
LETTERS = "ABCDEFGHIJ"
_L = f"[{LETTERS}]"
_GOLD = re.compile(rf"^\(?({_L})\)?(?:[.:)]|\s|$)")
_WRAP = re.compile(r"\\(?:text|textbf|mathrm)\s*\{([^{}]*)\}")
# strongest evidence first; within a pattern the last match wins (models restate their final choice last)
_PATTERNS = [
    re.compile(rf"(?i:final answer|answer|choice|option)\s*(?i:is|:|=)?\s*:?\s*(?i:option\s*)?\**\s*\(?\s*({_L})\b"),
    re.compile(rf"\*\*\s*\(?({_L})\)?[.:)]?\s*\*\*"),
    re.compile(rf"^\s*\(?({_L})\)?[.:)]?\s*$", re.M),
    re.compile(rf"\(({_L})\)"),
]


def gold_letter(answer: str | None) -> str | None:
    if answer is None:
        return None
    text = _WRAP.sub(lambda m: m.group(1), str(answer).strip().strip("$")).strip()
    match = _GOLD.match(text)
    return match.group(1) if match else None


def chosen_letter(text: str) -> str | None:
    for span in reversed(boxed_spans(text)):
        letter = gold_letter(span)
        if letter:
            return letter
    for pattern in _PATTERNS:
        found = pattern.findall(text)
        if found:
            return found[-1].upper()
    return None


def verify_choice(response: str | None, answer: str | None) -> Verdict:
    gold = gold_letter(answer)
    if gold is None:
        return Verdict("unverifiable", 0.0, None, CHOICE, "reference_not_a_letter")
    text = final_response(response)
    if text is None:
        return Verdict("no_answer", 0.0, None, CHOICE, "reasoning_unfinished")
    letter = chosen_letter(text)
    if letter is None:
        return Verdict("no_answer", 0.0, None, CHOICE, "no_letter_found")
    ok = letter == gold
    return Verdict("correct" if ok else "incorrect", 1.0 if ok else 0.0, letter, CHOICE)
