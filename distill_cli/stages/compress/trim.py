"""trim: cut the post-answer double-checking and the filler out of a reasoning trace.

The cut point is the final answer's *settled* statement: the first paragraph stating the final answer (the
one in the response) after which the reasoning never states a different answer. Everything after it, beyond
`allowance` paragraphs, is re-checking a settled answer (the "Wait, let me double-check" tail of R1 traces).
Cutting at the settled statement rather than the first one keeps a trace that reached the answer, doubted it,
went elsewhere and came back intact up to where it came back.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from distill_cli.stages.compress.text import join, paragraphs, stated_answers

# (candidate, reference, domain) -> is the candidate the same answer as the reference (math verifier)
Equal = Callable[[list[tuple[str, str | None, str]]], list[bool]]

_FILLER = re.compile(
    r"(?:(?:hmm+|okay|ok|alright|all right|wait|so|well|right|yeah|yes|good|let me think|let me see|let's see|"
    r"let me think about (?:this|it)|let me start|let's start)[\s,.!…]*)+",
    re.IGNORECASE,
)


def is_filler(paragraph: str) -> bool:
    """A paragraph made only of filler words ("Hmm.", "Okay, let me think.") carries no reasoning."""
    return _FILLER.fullmatch(paragraph.strip()) is not None


def settled_cut(equal_flags: list[tuple[int, bool]]) -> int | None:
    """Index of the settled statement: the first equal statement after the last differing one."""
    last_diff = max((i for i, same in equal_flags if not same), default=-1)
    return next((i for i, same in equal_flags if same and i > last_diff), None)


def trim(rows: list[tuple[str, str | None, str]], allowance: int, equal: Equal) -> list[str]:
    """rows: (reasoning, final answer from the response, domain) -> trimmed reasoning per row."""
    paras = [[p for p in paragraphs(r) if not is_filler(p)] for r, _, _ in rows]
    stated = [stated_answers(p) if final else [] for p, (_, final, _) in zip(paras, rows, strict=False)]
    items = [(value, final, domain) for st, (_, final, domain) in zip(stated, rows, strict=False) for _, value in st]
    flags = iter(equal(items))
    out = []
    for p, st in zip(paras, stated, strict=False):
        cut = settled_cut([(i, next(flags)) for i, _ in st])
        out.append(join(p if cut is None else p[: cut + 1 + allowance]))
    return out
