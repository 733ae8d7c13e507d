"""first-correct: cut the reasoning where it first reaches the reference answer (Sky-T1-Flash, Retro-Search).

The running answer of a reasoning after paragraph i is the answer stated in the last paragraph up to i that
states one (text.stated_answer: boxed, "the answer is X", "= X" at a paragraph's end). The cut keeps the
paragraphs up to the first one whose stated answer equals the reference answer under the math verifier, plus
`extra_steps` more. What follows a correct running answer is, for a correct trace, exploration that found
nothing better; re-verification then checks that the shortened trace still concludes correctly.
"""

from __future__ import annotations

from distill_cli.stages.compress.text import join, paragraphs, stated_answers
from distill_cli.stages.compress.trim import Equal

ANSWER_DOMAINS = ("math", "choice")


def first_correct(rows: list[tuple[str, str | None, str]], extra_steps: int, equal: Equal) -> list[str | None]:
    """rows: (reasoning, reference answer, domain) -> the cut reasoning, or None where nothing is cut
    (no reference, a domain without a final answer, or no paragraph states the reference answer)."""
    paras = [paragraphs(r) for r, _, _ in rows]
    stated = [stated_answers(p) if gold and domain in ANSWER_DOMAINS else []
              for p, (_, gold, domain) in zip(paras, rows, strict=False)]
    items = [(value, gold, domain) for st, (_, gold, domain) in zip(stated, rows, strict=False) for _, value in st]
    flags = iter(equal(items))
    out: list[str | None] = []
    for p, st in zip(paras, stated, strict=False):
        hits = [i for i, _ in st if next(flags)]
        keep = hits[0] + 1 + extra_steps if hits else len(p)
        out.append(join(p[:keep]) if keep < len(p) else None)
    return out
