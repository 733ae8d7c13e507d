"""rewrite: have a model restate a correct trace at a length that suits the problem's difficulty.

Difficulty-aware prompting (Concise Reasoning / LiteCoT, TL;DR): an easy problem deserves a short trace, a hard
one keeps more of its exploration. The `difficulty` column from grade picks the target length as a share of the
original reasoning's words (RewriteConfig.targets); the prompt template (distill_cli/templates/rewrite.txt) carries
the problem, the original reasoning, the reference answer, the difficulty and that target. The model's output
(after its own `</think>`, if it thinks first) becomes the new reasoning; the response is kept as it was.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

from distill_cli.stages.compress.config import RewriteConfig
from distill_cli.stages.compress.text import THINK_CLOSE, THINK_OPEN

PLACEHOLDERS = ("problem", "reasoning", "answer", "difficulty", "target_length")


@dataclass(frozen=True)
class RewriteJob:
    key: str  # resume key: hash of (row id, sample, prompt text, generation limits)
    id: str
    sample: int
    prompt: str
    max_tokens: int


@dataclass(frozen=True)
class RewriteOutcome:
    text: str | None  # the model's output, None when the request failed
    error: str | None = None  # why it failed: error text, or "length" when it ran out of tokens


# runs every job (through a generate backend) and returns the outcome of each, by key
Rewriter = Callable[[list[RewriteJob]], dict[str, RewriteOutcome]]


def target_words(reasoning: str, difficulty: str | None, cfg: RewriteConfig) -> int:
    return max(cfg.min_words, round(len(reasoning.split()) * cfg.target_share(difficulty)))


def render(template: str, values: dict[str, str]) -> str:
    """Fill `{name}` placeholders by plain replacement: LaTeX braces elsewhere in the template stay as they are."""
    out = template
    for name in PLACEHOLDERS:
        out = out.replace("{" + name + "}", values.get(name, ""))
    return out


def make_job(row: dict, reasoning: str, cfg: RewriteConfig) -> RewriteJob:
    words = target_words(reasoning, row.get("difficulty"), cfg)
    prompt = render(cfg.template, {
        "problem": row.get("prompt") or "",
        "reasoning": reasoning,
        "answer": row.get("answer") or "",
        "difficulty": row.get("difficulty") or "unknown",
        "target_length": f"about {words} words",
    })
    # a rewrite needs room for the target plus slack; never more than the configured limit
    max_tokens = min(cfg.max_tokens, max(256, int(words * 1.3 * 2)))
    ident = json.dumps([row.get("id"), row.get("sample"), prompt, max_tokens, cfg.temperature])
    key = hashlib.blake2b(ident.encode(), digest_size=12).hexdigest()
    return RewriteJob(key, str(row.get("id") or ""), int(row.get("sample") or 0), prompt, max_tokens)


def parse_output(outcome: RewriteOutcome | None) -> tuple[str | None, str | None]:
    """(new reasoning, None) or (None, failure reason)."""
    if outcome is None:
        return None, "missing"
    if outcome.error or outcome.text is None:
        return None, "length" if outcome.error == "length" else "error"
    text = outcome.text
    if THINK_CLOSE in text:
        text = text.rsplit(THINK_CLOSE, 1)[1]
    text = text.replace(THINK_OPEN, "").strip()
    return (text, None) if text else (None, "empty")
