"""Repetition: the share of a trace's word n-grams that repeat an earlier one, and the longest repeated span.

A trace that loops (R1 models caught in "Wait, let me re-check..." cycles) repeats long runs of words verbatim;
clean reasoning almost never repeats 20 words in a row. Both measures come from one vectorized pass over the
UTF-8 bytes of a batch of texts (numpy, no Python loop per row or word): words are the runs of non-space bytes,
each hashed by a polynomial over its bytes computed for all words at once from a prefix sum (arithmetic modulo
2^64, the base odd so it can be divided out), then mixed; every window of n words is hashed the same way from the
word hashes. Repeats are counted per row with polars. Batches bound the memory by the batch, not the shard.
"""

from __future__ import annotations

import numpy as np
import polars as pl

_BYTE_BASE = np.uint64(0x100000001B3)  # odd bases, so they are invertible modulo 2^64
_WORD_BASE = np.uint64(0x9E3779B97F4A7C15)
_SPACE = np.zeros(256, bool)
_SPACE[[9, 10, 11, 12, 13, 32]] = True


def _inverse(a: int) -> int:
    """The inverse of an odd number modulo 2^64 (Newton's iteration doubles the correct bits each step)."""
    x = a
    for _ in range(6):
        x = (x * (2 - a * x)) % (1 << 64)
    return x


_POWERS: dict[int, np.ndarray] = {}


def _powers(base: np.uint64, n: int) -> np.ndarray:
    """base^0 .. base^(n-1) modulo 2^64 (cumprod wraps like the hardware does); kept and grown across batches,
    since every batch needs about as many."""
    have = _POWERS.get(int(base))
    if have is None or len(have) < n:
        size = max(n, 2 * len(have) if have is not None else 0, 1)
        out = np.full(size, base, dtype=np.uint64)
        out[0] = 1
        with np.errstate(over="ignore"):
            have = _POWERS[int(base)] = np.cumprod(out, dtype=np.uint64)
    return have[:n]


def _span_hashes(values: np.ndarray, starts: np.ndarray, stops: np.ndarray, base: np.uint64) -> np.ndarray:
    """Hash of values[start:stop] for every (start, stop): sum_j values[start+j] * base^j (mod 2^64)."""
    with np.errstate(over="ignore"):
        prefix = np.concatenate([[np.uint64(0)], np.cumsum(values * _powers(base, len(values)), dtype=np.uint64)])
        inverse = _powers(np.uint64(_inverse(int(base))), len(values) + 1)
        return (prefix[stops] - prefix[starts]) * inverse[starts]


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer: word hashes that are not linear in their bytes before they are combined."""
    with np.errstate(over="ignore"):
        h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return h ^ (h >> np.uint64(31))


def window_hashes(word_hash: np.ndarray, n: int) -> np.ndarray:
    """Hash of every window of n consecutive words."""
    m = len(word_hash) - n + 1
    if m <= 0:
        return np.empty(0, np.uint64)
    starts = np.arange(m)
    return _span_hashes(word_hash, starts, starts + n, _WORD_BASE)


def words(texts: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """(row, hash) of every whitespace-separated word of the texts, in order."""
    arr = texts.fill_null("").cast(pl.String).to_arrow()
    offsets = np.frombuffer(arr.buffers()[1], np.int64)[arr.offset: arr.offset + len(arr) + 1]
    data = np.frombuffer(arr.buffers()[2], np.uint8)[offsets[0]: offsets[-1]]
    offsets = offsets - offsets[0]
    is_word = ~_SPACE[data]
    before = np.r_[False, is_word[:-1]]
    after = np.r_[is_word[1:], False]
    inner = offsets[1:-1]
    before[inner[inner < len(data)]] = False  # a row's first byte starts a word, its last ends one
    after[inner[inner > 0] - 1] = False
    starts = np.flatnonzero(is_word & ~before)
    stops = np.flatnonzero(is_word & ~after) + 1
    hashes = _mix(_span_hashes(data.astype(np.uint64) + np.uint64(1), starts, stops, _BYTE_BASE))
    return np.searchsorted(offsets, starts, side="right") - 1, hashes


def repetition(texts: pl.Series, n: int, batch_rows: int = 512) -> pl.DataFrame:
    """Per text: `repeated_share` (n-grams equal to an earlier n-gram of the same text, over all its n-grams; 0
    for a text shorter than n words) and `repeated_span` (words in the longest run of such n-grams, 0 if none)."""
    parts = [_batch(texts.slice(start, batch_rows), n) for start in range(0, len(texts), batch_rows)]
    return pl.concat(parts) if parts else pl.DataFrame(schema={"repeated_share": pl.Float64,
                                                              "repeated_span": pl.Int64})


def _batch(texts: pl.Series, n: int) -> pl.DataFrame:
    row, word_hash = words(texts)
    grams = window_hashes(word_hash, n)
    same = row[: len(grams)] == row[n - 1:] if len(grams) else np.empty(0, bool)  # windows within one text
    frame = pl.DataFrame({"row": row[: len(grams)][same], "h": grams[same]})
    per_row = (frame.select("row", dup=~pl.col("h").is_first_distinct().over("row"))
               .with_columns(run=pl.struct("row", "dup").rle_id())
               .group_by("row").agg(total=pl.len(), repeats=pl.col("dup").sum(),
                                    longest=pl.col("run").filter(pl.col("dup")).unique_counts().max()))
    return (pl.DataFrame({"row": np.arange(len(texts), dtype=row.dtype)})
            .join(per_row, on="row", how="left", maintain_order="left")
            .select(repeated_share=(pl.col("repeats") / pl.col("total")).fill_null(0.0),
                    repeated_span=pl.when(pl.col("longest") > 0).then(pl.col("longest") + n - 1)
                    .otherwise(0).fill_null(0).cast(pl.Int64)))
