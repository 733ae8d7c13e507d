"""The units compress cuts by: paragraphs, answers stated in a paragraph, rebuilt completions."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # `tests.*` helpers (no tests/__init__.py)

import pytest  # noqa: E402

from distill_cli.stages.compress.text import conclusion, paragraphs, rebuild_completion, stated_answer  # noqa: E402


def test_paragraphs_split_on_blank_lines_and_drop_whitespace():
    text = "  First line\nsame paragraph.  \n\n\n\nSecond.\t\n \nThird. \n"
    assert paragraphs(text) == ["First line\nsame paragraph.", "Second.", "Third."]
    assert paragraphs(None) == [] and paragraphs("  \n\n ") == []


@pytest.mark.parametrize("paragraph,expected", [
    ("Adding up, the total is $\\boxed{\\frac{14}{3}}$ so far.", "\\frac{14}{3}"),
    ("I first thought \\boxed{6}, but the final count is \\boxed{9}.", "9"),
    ("So the answer is 18.", "18"),
    ("Hmm, so the answer is $\\frac{14}{3}$.", "\\frac{14}{3}"),
    ("Final answer: 3.5", "3.5"),
    ("No, that case cannot happen. So the answer is 18 after all.", "18"),  # words after the answer
    ("So the answer is 2 + 3i.", "2 + 3i"),
    ("The answer should be (B). Let me move on.", "(B)"),
    ("She sells each egg for $2, so 9 * 2 = 18.", "18"),
    ("Adding: 2 + 5/3 + 1 = 3 + 5/3 = \\frac{14}{3}.", "\\frac{14}{3}"),
    ("So 16 - 3 = 13 eggs left.", None),  # "= X" only when X is the paragraph's last word
    ("Okay, 196 = 14^2 = 2^2 * 7^2.", None),
    ("Let me double-check. 16 minus 3 is 13. Yes.", None),
    ("The answer is " + "x" * 80 + ".", None),  # a long clause is not an answer
])
def test_stated_answer_rule(paragraph, expected):
    assert stated_answer(paragraph) == expected


def test_conclusion_is_the_last_stated_answer():
    text = "The answer is 6.\n\nWait, (2+1)(2+1) is 9, not 6.\n\nSo the answer is 9.\n\nLet me list them: 1, 2, 4."
    assert conclusion(text) == "9"
    assert conclusion("No numbers stated here.") is None


def test_rebuild_keeps_the_original_shape():
    tagged = "<think>\nold reasoning\n</think>\n\nThe answer is \\boxed{1}."
    assert rebuild_completion(tagged, "old reasoning", "new", "The answer is \\boxed{1}.") == \
        "<think>\nnew\n</think>\n\nThe answer is \\boxed{1}."
    # R1 distills put <think> in the prompt: the completion starts inside the thinking
    open_in_prompt = "old reasoning\n</think>\n\nDone: \\boxed{1}"
    assert rebuild_completion(open_in_prompt, "old reasoning", "new", "Done: \\boxed{1}") == \
        "new\n</think>\n\nDone: \\boxed{1}"
    # reasoning and response without tags (a server's separate reasoning field): replaced in place
    assert rebuild_completion("Thinking: old reasoning. Answer: 1", "old reasoning", "new", "Answer: 1") == \
        "Thinking: new. Answer: 1"
