"""max-tokens: measure each completion in tokens and drop (or mark) the ones over budget.

With `--tokenizer DIR` the count is exact for that model (transformers' AutoTokenizer, loaded from a local
directory, special tokens excluded). Without it the count is an estimate (stats `token_counter: estimate`): the
row's own `completion_tokens` scaled by how much the completion's character length changed, or, for rows
without a token count, 1.3 tokens per whitespace-separated word. The count lands in `trace_tokens`.
"""

from __future__ import annotations

import math
from functools import lru_cache
from pathlib import Path

from distill_cli.errors import BadInput, require

WORD_TOKENS = 1.3


@lru_cache(maxsize=4)
def load_tokenizer(path: str):
    """Tokenizers take a second or more to load: once per process and directory."""
    if not Path(path).is_dir():
        raise BadInput(f"--tokenizer {path}: not a directory (give a local model or tokenizer directory)")
    transformers = require("transformers", "model")
    try:
        return transformers.AutoTokenizer.from_pretrained(path)
    except Exception as exc:  # transformers raises OSError/ValueError/... for unusable directories
        raise BadInput(f"--tokenizer {path}: cannot load a tokenizer: {' '.join(str(exc).split())[:200]}") from exc


def count_exact(texts: list[str], tokenizer_dir: str) -> list[int]:
    tok = load_tokenizer(tokenizer_dir)
    if not texts:
        return []
    return [len(ids) for ids in tok(texts, add_special_tokens=False)["input_ids"]]


def estimate(text: str, original: str | None, original_tokens: int | None) -> int:
    """The documented estimate: scaled completion_tokens when known, else 1.3 tokens per word."""
    if original_tokens and original:
        return max(1, round(original_tokens * len(text) / len(original)))
    return math.ceil(WORD_TOKENS * len(text.split()))


def count_tokens(texts: list[str], originals: list[str | None], original_tokens: list[int | None],
                 tokenizer_dir: str | None) -> list[int]:
    if tokenizer_dir:
        return count_exact(texts, tokenizer_dir)
    return [estimate(t, o, n) for t, o, n in zip(texts, originals, original_tokens, strict=False)]
