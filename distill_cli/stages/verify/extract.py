"""Find the final answer in a response, and normalize gold answers the way real benchmarks write them.

Only the final response counts (DESIGN.md): anything before the last `</think>` is reasoning and is cut off, so a
wrong boxed answer the model considered while thinking never decides the verdict.
"""

from __future__ import annotations

import re

from distill_cli.answers import boxed_spans

THINK_END = "</think>"
MAX_RESPONSE_CHARS = 200_000  # beyond this only the tail can hold the final answer

_NUMBER = re.compile(r"(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?![\w])")
_PLAIN_NUMBER = re.compile(r"-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|-?\.\d+")
_ANCHOR = re.compile(r"(?:final answer|answer)\s*(?:is|:)\s*:?\s*\$?([^\n$]+?)\$?\s*(?:\.|\n|$)", re.I)
_TEXT_WRAP = re.compile(r"\\(?:text|textbf|mathrm|mbox)\s*\{([^{}]*)\}")
_FENCE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)```", re.S)


def final_response(response: str | None) -> str | None:
    """The part of a response after the reasoning; None when the reasoning never ended (a cut-off trace)."""
    if response is None:
        return None
    if THINK_END in response:
        response = response.rsplit(THINK_END, 1)[1]
    elif "<think>" in response:
        return None
    if len(response) > MAX_RESPONSE_CHARS:
        response = response[-MAX_RESPONSE_CHARS:]
    return response


def strip_math(text: str) -> str:
    """Remove the wrapping that changes how an answer looks but not what it is."""
    s = text.strip().strip("$").strip()
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac").replace("\\!", "").replace("\\,", "")
    s = s.replace("\\left", "").replace("\\right", "").replace("\\$", "").replace("\\%", "").replace("%", "")
    s = re.sub(r"\^\s*\{?\\circ\}?", "", s)
    s = re.sub(r"\\text\s*\{\s*\}", "", s)
    return s.strip().rstrip(".").strip()


def as_number(text: str | None) -> float | None:
    """A plain number ('025', '27.0', '1,000', '$18', '50\\%', '10 \\text{cm}'), else None."""
    if text is None:
        return None
    s = strip_math(text)
    s = _TEXT_WRAP.sub(lambda m: "" if m.group(1).strip().isalpha() else m.group(1), s).strip()
    s = re.sub(r"\s+[a-zA-Z]+\.?$", "", s).strip()  # a trailing unit word: "18 dollars"
    if not _PLAIN_NUMBER.fullmatch(s):
        return None
    if "," in s and not re.fullmatch(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?", s):
        return None
    try:
        return float(s.replace(",", ""))
    except ValueError:
        return None


def numeric_candidate(response: str, anchored_only: bool = False) -> str | None:
    """GSM8K-style answer: the last boxed value, else an 'answer is X' line, else the last number (unless
    `anchored_only`: a response cut off by the token limit has no last number that means anything)."""
    spans = boxed_spans(response)
    if spans:
        return spans[-1]
    anchored = _ANCHOR.findall(response)
    if anchored and as_number(anchored[-1]) is not None:
        return anchored[-1].strip()
    if anchored_only:
        return None
    if "####" in response:
        tail = response.rsplit("####", 1)[1].strip().split("\n")[0]
        if tail:
            return tail
    numbers = _NUMBER.findall(response)
    return numbers[-1] if numbers else None


def same_number(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-6 * max(1.0, abs(b))


def text_candidate(response: str) -> str | None:
    """A free-text answer: the last boxed span, else an 'Answer: X' line, else a short whole response."""
    spans = boxed_spans(response)
    if spans:
        return spans[-1]
    anchored = _ANCHOR.findall(response)
    if anchored:
        return anchored[-1]
    text = response.strip()
    return text if text and len(text) <= 200 else None


def normalize_text(text: str) -> str:
    s = _TEXT_WRAP.sub(lambda m: m.group(1), strip_math(text))
    return " ".join(s.casefold().strip(" .!\"'*").split())


def code_candidate(response: str) -> str | None:
    """The final program: the last ```python block, else the last ``` block, else the text if it parses."""
    return code_block(response)[1]


def _guess_language(body: str) -> str:
    return "cpp" if re.search(r"^\s*#include|\bint\s+main\s*\(", body, re.M) else "python"


def code_block(response: str, language: str | None = None) -> tuple[str | None, str | None]:
    """(language, program): the last block in `language` (the row's column) if given, else the last block tagged
    Python or C++, else the last block (language from its tag, or guessed), else the whole text if it parses."""
    from distill_cli.stages.verify.problem import language_name

    blocks = [(language_name(tag) if tag else None, body) for tag, body in _FENCE.findall(response)]
    wanted = [b for b in blocks if b[0] == language] if language else []
    known = [b for b in blocks if b[0] in ("python", "cpp")]
    for group in (wanted, known, blocks):
        if group:
            tag, body = group[-1]
            return tag or language or _guess_language(body), body
    text = response.strip()
    if not text or len(text) > 100_000:
        return None, None
    try:
        import ast

        ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None, None
    return "python", text
