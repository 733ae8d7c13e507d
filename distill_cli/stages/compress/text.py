"""The units compress works on: paragraphs of a reasoning trace, answers stated in them, rebuilt completions.

Every strategy cuts at paragraph boundaries (blank lines), because that is where R1-style traces change
step: a "Wait," or "Let me double-check" starts a new paragraph, and a cut there never leaves half a sentence.
"""

from __future__ import annotations

import re

from distill_cli.answers import boxed_spans

_BLANK = re.compile(r"\n[ \t]*\n+")
_TRAILING_SPACE = re.compile(r"[ \t]+\n")
_ANSWER_IS = re.compile(
    r"(?:final answer|answer)\s*(?:is|=|:|should be|would be|must be)\s*:?\s*(.+?)(?=\.\s|\.?$|\n)",
    re.IGNORECASE | re.DOTALL,
)
_EQUALS_END = re.compile(r"=\s*(\S+?)\s*[.!]?\s*$")
_STRIP = " \t$*.,;:!"
_LATEX_CMD = re.compile(r"\\[A-Za-z]+")
_WORD = re.compile(r"[A-Za-z]{2,}")
MAX_ANSWER_CHARS = 60
THINK_OPEN, THINK_CLOSE = "<think>", "</think>"


def paragraphs(text: str | None) -> list[str]:
    """Blank-line separated paragraphs, each stripped of surrounding whitespace; empty ones dropped."""
    if not text:
        return []
    if " \n" in text or "\t\n" in text:  # the substitution scans every space: 0.2 ms for 8 KB, most have none
        text = _TRAILING_SPACE.sub("\n", text)
    return [p.strip() for p in _BLANK.split(text) if p.strip()]


def join(paras: list[str]) -> str:
    return "\n\n".join(paras)


def _clean(candidate: str) -> str | None:
    value = candidate.strip().strip(_STRIP).strip()
    if " " in value and _WORD.search(_LATEX_CMD.sub("", value)):
        value = value.split()[0].strip(_STRIP)  # "18 after all", "18 dollars": the answer is the first token
    if value.startswith("\\(") and value.endswith("\\)"):
        value = value[2:-2].strip()
    if not value or len(value) > MAX_ANSWER_CHARS:
        return None
    return value


def stated_answer(paragraph: str) -> str | None:
    """The answer a paragraph states, by the documented rule (first that applies):

    1. the last `\\boxed{...}` in the paragraph;
    2. the last "answer is X" / "final answer: X" / "answer should be X" (X up to the end of its sentence);
    3. a last line ending in "= X" where X has no spaces (e.g. "16 - 3 - 4 = 9." or "$x = \\frac{1}{2}$").
    """
    spans = [s for s in boxed_spans(paragraph) if s]
    if spans:
        return _clean(spans[-1])
    # the regex costs 0.4 ms per 8 KB paragraph even where it finds nothing; a paragraph it can match contains
    # "answer" up to case (casefold maps every character IGNORECASE matches to a letter of it, e.g. U+017F to s)
    found = _ANSWER_IS.findall(paragraph) if "answer" in paragraph.casefold() else []
    for candidate in reversed(found):
        value = _clean(candidate)
        if value:
            return value
    last_line = paragraph.rstrip().rsplit("\n", 1)[-1].rstrip(" $.")
    match = _EQUALS_END.search(last_line)
    return _clean(match.group(1)) if match else None


def stated_answers(paras: list[str]) -> list[tuple[int, str]]:
    """(paragraph index, stated answer) for every paragraph that states one, in order."""
    out = []
    for i, p in enumerate(paras):
        value = stated_answer(p)
        if value is not None:
            out.append((i, value))
    return out


def conclusion(reasoning: str | None) -> str | None:
    """The running answer at the end of a reasoning: the answer its last answer-stating paragraph states."""
    found = stated_answers(paragraphs(reasoning))
    return found[-1][1] if found else None


def rebuild_completion(original_completion: str | None, original_reasoning: str | None,
                       reasoning: str, response: str | None) -> str:
    """The completion made from the new reasoning, in the same shape as the original.

    With think tags: `[<think>\\n]{reasoning}\\n</think>\\n\\n{response}`, keeping the opening tag only if the
    original had it (R1 distills put `<think>` in the prompt). Without tags but with the reasoning verbatim in
    the completion: the reasoning is replaced in place. Otherwise the think-tag form.
    """
    response = response or ""
    completion = original_completion or ""
    if THINK_CLOSE in completion or not completion:
        opening = f"{THINK_OPEN}\n" if completion.lstrip().startswith(THINK_OPEN) or not completion else ""
        return f"{opening}{reasoning}\n{THINK_CLOSE}\n\n{response.lstrip()}"
    if original_reasoning and original_reasoning in completion:
        return completion.replace(original_reasoning, reasoning, 1)
    return f"{THINK_OPEN}\n{reasoning}\n{THINK_CLOSE}\n\n{response.lstrip()}"
