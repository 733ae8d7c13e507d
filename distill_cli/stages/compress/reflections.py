"""dedupe-reflections: drop repeated paragraphs and runaway self-reflection loops.

Long R1-style traces repeat themselves twice over: the same computation restated word for word (or nearly:
different spacing, `$` signs, punctuation), and runs of "Wait, ...", "Hmm, ...", "Let me double-check ..."
paragraphs that re-verify a settled step again and again. The first copy of a repeated paragraph and the
first `max_reflections` paragraphs of each run of reflections are kept; the rest goes.
"""

from __future__ import annotations

import re
import unicodedata

from distill_cli.stages.compress.text import join, paragraphs

REFLECTION_STARTS = (
    "wait", "but wait", "hmm", "hold on", "let me double-check", "let me double check", "let me check",
    "let me verify", "let me recheck", "let me re-check", "let me re-examine", "let me reconsider",
    "let me confirm", "double-checking", "to double-check", "to verify", "alternatively", "actually,",
    "let me make sure", "just to be sure", "just to confirm", "i should double-check", "i should check",
    "but let me check", "but let me verify", "but let me double-check", "oh wait", "no wait",
)
_REFLECTION = re.compile(r"^(?:\*\*)?(?:" + "|".join(re.escape(s) for s in REFLECTION_STARTS) + r")\b",
                         re.IGNORECASE)
_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
SHINGLE = 5
MIN_WORDS_EXACT = 3  # shorter paragraphs ("Hmm.", "Yes.") are left to the reflection rule
MIN_WORDS_NEAR = 8
MAX_BODY = 2  # paragraphs after a reflection paragraph that still make a short re-check


def is_reflection(paragraph: str) -> bool:
    return _REFLECTION.match(paragraph.lstrip()) is not None


def normalize(paragraph: str) -> str:
    """Case, spacing, punctuation, `$` and LaTeX spacing commands do not make a paragraph new."""
    text = unicodedata.normalize("NFKC", paragraph).lower()
    text = text.replace("\\,", " ").replace("\\;", " ").replace("\\!", "").replace("\\left", "")
    text = text.replace("\\right", "")
    return " ".join(_NON_WORD.sub(" ", text).split())


def shingles(norm: str) -> frozenset[str]:
    if len(norm) <= SHINGLE:
        return frozenset([norm])
    return frozenset(norm[i:i + SHINGLE] for i in range(len(norm) - SHINGLE + 1))


def jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    return len(a & b) / len(a | b) if a or b else 1.0


def drop_repeats(paras: list[str], threshold: float) -> list[str]:
    """Keep the first of every group of exact (after normalize) or near-exact repeats."""
    kept: list[str] = []
    seen: set[str] = set()
    kept_shingles: list[tuple[int, frozenset[str]]] = []
    for p in paras:
        norm = normalize(p)
        words = norm.count(" ") + 1 if norm else 0
        if words >= MIN_WORDS_EXACT and norm in seen:
            continue
        if words >= MIN_WORDS_NEAR:
            sh = shingles(norm)
            size = len(sh)
            # Jaccard >= t needs sizes within a factor t of each other: skip hopeless pairs cheaply
            if any(threshold * n <= size <= n / threshold and jaccard(sh, other) >= threshold
                   for n, other in kept_shingles):
                continue
            kept_shingles.append((size, sh))
        seen.add(norm)
        kept.append(p)
    return kept


def episodes(paras: list[str]) -> list[tuple[bool, list[str]]]:
    """Split into (is_reflection, paragraphs): a reflection paragraph plus the paragraphs that follow it up to
    the next reflection is one reflection episode; paragraphs before any reflection are plain."""
    out: list[tuple[bool, list[str]]] = []
    for p in paras:
        if is_reflection(p) or not out:
            out.append((is_reflection(p), [p]))
        else:
            out[-1][1].append(p)
    return out


def limit_reflections(paras: list[str], max_reflections: int) -> list[str]:
    """In each loop of reflection episodes keep the first `max_reflections` episodes.

    A loop is a run of consecutive short episodes (a reflection paragraph and at most MAX_BODY more): a long
    episode is new work, not a re-check, so it is always kept and ends the loop.
    """
    kept, run = [], 0
    for reflective, body in episodes(paras):
        if not reflective or len(body) > 1 + MAX_BODY:
            run = 0
            kept.extend(body)
            continue
        run += 1
        if run <= max_reflections:
            kept.extend(body)
    return kept


def dedupe_reflections(reasoning: str, max_reflections: int, threshold: float) -> str | None:
    """The reasoning without repeats and runaway reflections; None when nothing was removed."""
    paras = paragraphs(reasoning)
    kept = limit_reflections(drop_repeats(paras, threshold), max_reflections)
    return join(kept) if len(kept) < len(paras) else None
