"""Final-answer extraction shared by collect (gold answers) and verify (model answers)."""

from __future__ import annotations

import re

_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")
_GSM8K = re.compile(r"####\s*(.+?)\s*$", re.S)


def boxed_spans(text: str) -> list[str]:
    """Contents of every `\\boxed{...}` / `\\fbox{...}`, nested braces balanced; unclosed ones are skipped."""
    found = []
    for match in _BOXED.finditer(text):
        depth, start = 1, match.end()
        for pos in range(start, len(text)):
            ch = text[pos]
            if ch == "{" and text[pos - 1] != "\\":
                depth += 1
            elif ch == "}" and text[pos - 1] != "\\":
                depth -= 1
                if depth == 0:
                    found.append(text[start:pos].strip())
                    break
    return found


def last_boxed(text: str | None) -> str | None:
    if not text:
        return None
    spans = boxed_spans(text)
    return spans[-1] if spans and spans[-1] else None


def gsm8k_final(text: str | None) -> str | None:
    """The GSM8K gold answer: what follows the last `####`, thousands separators removed."""
    if not text or "####" not in text:
        return None
    value = _GSM8K.search(text[text.rindex("####"):])
    if not value:
        return None
    answer = value.group(1).strip().replace(",", "")
    return answer or None


def extract_gold(text: str | None, fmt: str) -> str | None:
    """A dataset's final answer from its answer/solution field, by format (auto picks by content)."""
    if text is None:
        return None
    text = str(text)
    if fmt == "auto":
        fmt = "gsm8k" if "####" in text else "boxed" if _BOXED.search(text) else "raw"
    if fmt == "gsm8k":
        return gsm8k_final(text)
    if fmt == "boxed":
        return last_boxed(text)
    return text.strip() or None
