"""Exact duplicates: equal normalized text (NFKC, lowercase, punctuation and `$` removed, whitespace collapsed)."""

from __future__ import annotations

import numpy as np
import polars as pl


def exact_labels(norm: pl.Series) -> np.ndarray:
    """Each document's label is the position of the first document with the same normalized text.

    Grouping compares the strings themselves (polars hashes, then checks equality), so no hash collision can
    merge two different texts.
    """
    frame = pl.DataFrame({"t": norm}).with_row_index("i")
    return frame.select(pl.col("i").min().over("t")).to_series().to_numpy().astype(np.int64)
