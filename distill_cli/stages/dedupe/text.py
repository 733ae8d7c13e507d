"""Text normalization and word hashing shared by exact dedupe, MinHash and decontamination.

Everything here is vectorized: polars (Rust) normalizes and hashes words, numpy combines word hashes into n-gram
hashes. No per-row Python runs on the hot path, which is what makes 1M prompts take seconds, not minutes. Callers
hash documents a chunk at a time so that every numpy temporary stays a few MB: fresh large allocations cost more
than the arithmetic (page faults), and reused small ones stay in cache.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

# LaTeX spacing commands (\, \! \; \: \  \quad \qquad), `$` math delimiters, any Unicode punctuation (\p{P})
# and whitespace all become one space. Math symbols (+ = < > ^ |) are not punctuation in Unicode, so "2+3" and
# "2=3" stay different, while "x , y" and "x, y" become equal.
_SEP = r"\\q?quad\b|[\p{P}$\s]"
# matches every separator run except a lone space (the common case, which needs no rewrite): 6x faster than
# rewriting every space
_SEPARATORS = rf"(?:{_SEP})*(?:\\q?quad\b|[\p{{P}}$\t\n\r\x0b\x0c])(?:{_SEP})*|\s{{2,}}"
# then spaces around the remaining symbols go, so "2 + 2" and "2+2" are the same word, and so does whitespace at
# either end (one regex: a separate strip_chars cost as much again)
_SYMBOL_SPACE = r" ?(\p{S}) ?|^\s+|\s+$"
# The exact-match key of Light-R1's decontamination: the normalized text without digits, punctuation and spaces,
# so a benchmark problem with its numbers changed still matches.
_NOT_KEY = r"\p{N}+"

WORD_SEED = 0x5EED_D15
SHORT_SEED = 0x5EED_D16


def normalize(texts: pl.Series, chunk: int = 100_000) -> pl.Series:
    """NFKC, lowercase, punctuation/`$`/LaTeX spacing to spaces, whitespace collapsed and dropped around math
    symbols, trimmed; null -> "".

    Runs a chunk of rows at a time: each step makes a full copy of its input, and on 1M prompts the copies of
    the whole column would triple the stage's peak memory.
    """
    parts = [_normalize(texts.slice(start, chunk)) for start in range(0, len(texts), chunk)]
    return pl.concat(parts, rechunk=True) if parts else texts.cast(pl.String)


def _normalize(texts: pl.Series) -> pl.Series:
    """NFKC runs only on rows with a non-ASCII character: it is the identity on ASCII and costs more than the rest.
    A row has one exactly when it has more bytes than characters (10x cheaper than a regex)."""
    s = texts.cast(pl.String).fill_null("")
    wide = s.str.len_bytes() != s.str.len_chars()
    if wide.any():
        s = s.scatter(wide.arg_true(), s.filter(wide).str.normalize("NFKC"))
    spaced = s.str.to_lowercase().str.replace_all(_SEPARATORS, " ")
    return spaced.str.replace_all(_SYMBOL_SPACE, "$1")


def stripped_key(norm: pl.Series) -> pl.Series:
    """Light-R1's exact-match key from normalized text (punctuation is already gone)."""
    return norm.str.split(" ").list.join("").str.replace_all(_NOT_KEY, "")


@dataclass(frozen=True)
class Words:
    """Word hashes of many documents, flattened: document d owns hashes[offsets[d]:offsets[d + 1]]."""

    hashes: np.ndarray  # uint64
    offsets: np.ndarray  # int64, len = docs + 1

    @property
    def counts(self) -> np.ndarray:
        return np.diff(self.offsets)

    def doc_of(self) -> np.ndarray:
        return np.repeat(np.arange(len(self.offsets) - 1, dtype=np.int64), self.counts)


def word_hashes(norm: pl.Series) -> Words:
    """64-bit hashes of the space-separated words of normalized texts (an empty text is one empty word)."""
    lists = norm.str.split(" ")
    offsets = np.zeros(len(norm) + 1, np.int64)
    np.cumsum(lists.list.len().to_numpy(), out=offsets[1:])
    return Words(lists.explode().hash(WORD_SEED).to_numpy(), offsets)


def coefficients(n: int, seed: int) -> np.ndarray:
    """n random odd 64-bit multipliers."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 2**63, n, dtype=np.uint64) * np.uint64(2) + np.uint64(1)


_NGRAM_COEF_SEED = 7


def ngram_coefficients(n: int) -> np.ndarray:
    """The C_k of ngram_hashes (the MinHash kernel computes the same window hashes)."""
    return coefficients(n, _NGRAM_COEF_SEED)


def ngram_hashes(words: Words, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hashes of every window of n consecutive words inside one document.

    A window's hash is sum_k word[i+k] * C_k mod 2^64 with random odd C_k: order-sensitive, and two distinct
    windows collide with probability ~2^-64. Returns (hashes, doc, start): each window's document and the
    position of its first word in that document.
    """
    total = len(words.hashes)
    if total < n:
        empty = np.empty(0, np.int64)
        return np.empty(0, np.uint64), empty, empty
    doc = words.doc_of()
    m = total - n + 1
    coef = ngram_coefficients(n)
    acc = words.hashes[:m] * coef[0]
    tmp = np.empty_like(acc)
    for k in range(1, n):
        np.multiply(words.hashes[k:k + m], coef[k], out=tmp)
        acc += tmp
    valid = doc[:m] == doc[n - 1:]
    first = doc[:m][valid]
    starts = np.flatnonzero(valid) - words.offsets[first]
    return acc[valid], first, starts


def whole_hashes(norm: pl.Series, docs: np.ndarray) -> np.ndarray:
    """The one shingle of each of `docs` (documents shorter than a shingle): a hash of its whole text."""
    return norm.gather(docs).hash(SHORT_SEED).to_numpy()


def shingle_hashes(norm: pl.Series, n: int) -> tuple[np.ndarray, np.ndarray]:
    """MinHash shingles: word n-grams, and for a document shorter than n words its whole text as one shingle.

    Returns (hashes, offsets) grouped by document; every document has at least one shingle.
    """
    words = word_hashes(norm)
    hashes, doc, _ = ngram_hashes(words, n)
    short = np.flatnonzero(words.counts < n)
    if len(short):
        whole = whole_hashes(norm, short)
        hashes = np.concatenate([hashes, whole])
        doc = np.concatenate([doc, short])
        order = np.argsort(doc, kind="stable")
        hashes, doc = hashes[order], doc[order]
    offsets = np.zeros(len(norm) + 1, np.int64)
    np.cumsum(np.bincount(doc, minlength=len(norm)), out=offsets[1:])
    return hashes, offsets
