"""Repetition: the share of a trace's word n-grams that repeat an earlier one, and the longest repeated span.

A trace that loops (R1 models caught in "Wait, let me re-check..." cycles) repeats long runs of words verbatim;
clean reasoning almost never repeats 20 words in a row. Both measures come from one pass: every word is hashed
(polars), every window of n words gets a polynomial hash computed for all windows at once from a prefix sum
(numpy, arithmetic modulo 2^64), and the repeats are counted per row (polars). Rows are processed in batches so
memory stays bounded by the batch, not the shard.
"""

from __future__ import annotations

import numpy as np
import polars as pl

_BASE = np.uint64(0x9E3779B97F4A7C15)  # odd, so it is invertible modulo 2^64


def _inverse(a: int) -> int:
    """The inverse of an odd number modulo 2^64 (Newton's iteration doubles the correct bits each step)."""
    x = a
    for _ in range(6):
        x = (x * (2 - a * x)) % (1 << 64)
    return x


_BASE_INV = np.uint64(_inverse(int(_BASE)))


def _powers(base: np.uint64, n: int) -> np.ndarray:
    """base^0 .. base^(n-1) modulo 2^64 (cumprod wraps like the hardware does)."""
    out = np.full(n, base, dtype=np.uint64)
    out[0] = 1
    with np.errstate(over="ignore"):
        return np.cumprod(out, dtype=np.uint64)


def window_hashes(word_hash: np.ndarray, n: int) -> np.ndarray:
    """Hash of every window of n consecutive words: window i is sum_j word[i+j] * B^j (mod 2^64)."""
    m = len(word_hash)
    if m < n:
        return np.empty(0, np.uint64)
    with np.errstate(over="ignore"):
        prefix = np.concatenate([[np.uint64(0)], np.cumsum(word_hash * _powers(_BASE, m), dtype=np.uint64)])
        return (prefix[n:] - prefix[:-n]) * _powers(_BASE_INV, m - n + 1)


def repetition(texts: pl.Series, n: int, batch_rows: int = 2048) -> pl.DataFrame:
    """Per text: `repeated_share` (n-grams equal to an earlier n-gram of the same text, over all its n-grams; 0
    for a text shorter than n words) and `repeated_span` (words in the longest run of such n-grams, 0 if none)."""
    parts = [_batch(texts.slice(start, batch_rows), n) for start in range(0, max(len(texts), 1), batch_rows)]
    return pl.concat(parts) if parts else pl.DataFrame(schema={"repeated_share": pl.Float64,
                                                              "repeated_span": pl.Int64})


def _batch(texts: pl.Series, n: int) -> pl.DataFrame:
    words = (pl.DataFrame({"text": texts.fill_null("")}).with_row_index("row")
             .select("row", pl.col("text").str.extract_all(r"\S+").alias("w")).explode("w")
             .filter(pl.col("w").is_not_null()))
    row = words["row"].to_numpy()
    grams = window_hashes(words["w"].hash(seed=7).to_numpy(), n)
    # window i covers words i..i+n-1: it is an n-gram of one text when its first and last word share a row
    same = row[: len(grams)] == row[n - 1:] if len(grams) else np.empty(0, bool)
    frame = pl.DataFrame({"row": row[: len(grams)][same], "h": grams[same]})
    per_row = (frame.with_columns(dup=~pl.struct("row", "h").is_first_distinct())
               .with_columns(run=pl.struct("row", "dup").rle_id())
               .group_by("row").agg(
                   total=pl.len(), repeats=pl.col("dup").sum(),
                   longest=pl.col("run").filter(pl.col("dup")).unique_counts().max()))
    return (pl.DataFrame({"row": np.arange(len(texts), dtype=np.uint32)})
            .join(per_row, on="row", how="left", maintain_order="left")
            .select(repeated_share=(pl.col("repeats") / pl.col("total")).fill_null(0.0),
                    repeated_span=pl.when(pl.col("longest") > 0).then(pl.col("longest") + n - 1)
                    .otherwise(0).fill_null(0).cast(pl.Int64)))
