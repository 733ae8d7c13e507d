"""Dedupe units and keep policies.

A unit is what dedupe compares. With `--on prompt` it is a prompt: all rows sharing an `id` (the samples of one
prompt in a trace dataset) form one unit and are kept or removed together. With `--on response|both` every row
is its own unit. Side tables list rows, so a removed prompt unit contributes each of its rows (core.py).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from distill_cli.stages.dedupe.config import Keep, On  # noqa: F401  (re-exported)

ROW = "__row"
UNIT = "__unit"
LENGTH = "__length"


def unit_key(df: pl.DataFrame, on: On) -> pl.Expr:
    """Rows with the same key form one unit; a null id never groups rows."""
    if on == "prompt" and "id" in df.columns:
        return pl.coalesce(pl.col("id").cast(pl.String), pl.lit("\x00row") + pl.col(ROW).cast(pl.String))
    return pl.col(ROW).cast(pl.String)


def unit_text(on: On) -> pl.Expr:
    prompt = pl.col("prompt").cast(pl.String).fill_null("")
    if on == "prompt":
        return prompt
    response = pl.col("response").cast(pl.String).fill_null("")
    return response if on == "response" else prompt + "\n" + response


def narrow_frame(frame, on: On, lengths: bool = True):
    """What dedupe's global decisions need of every row (a frame or lazy frame with ROW): row, identity, score and
    the length of the compared text, never the text itself. lengths=False: every length 0 (only --keep
    longest/shortest reads them), and the frame needs no text column."""
    names = frame.collect_schema().names() if isinstance(frame, pl.LazyFrame) else frame.columns
    keep = [c for c in ("id", "sample", "model", "score") if c in names]
    length = unit_text(on).str.len_chars() if lengths else pl.lit(0, pl.UInt32)
    return frame.select(ROW, *keep, length.alias(LENGTH))


def unit_table(narrow: pl.DataFrame, on: On) -> pl.DataFrame:
    """One row per unit in input order: first_row, length (chars of its first row's text), score (mean of the
    rows' scores)."""
    score = pl.col("score").cast(pl.Float64).mean() if "score" in narrow.columns else pl.lit(None, pl.Float64)
    return narrow.group_by(unit_key(narrow, on).alias(UNIT), maintain_order=True).agg(
        pl.col(ROW).first().alias("first_row"), pl.col(LENGTH).first(), score.alias("score"))


def pick_kept(labels: np.ndarray, length: np.ndarray, score: np.ndarray, keep: Keep) -> np.ndarray:
    """For each unit, the unit its cluster keeps. Units are in input order, so ties go to the earliest.

    labels: cluster label per unit (units with equal labels are duplicates of each other).
    """
    n = len(labels)
    if n == 0:
        return np.empty(0, np.int64)
    position = np.arange(n)
    if keep == "first":
        key = np.zeros(n)
    elif keep == "longest":
        key = -length.astype(np.float64)
    elif keep == "shortest":
        key = length.astype(np.float64)
    else:  # best-score: highest score first, units without a score last
        key = np.where(np.isnan(score), np.inf, -score)
    order = np.lexsort((position, key, labels))
    sorted_labels = labels[order]
    head = np.r_[True, sorted_labels[1:] != sorted_labels[:-1]]
    winner = order[head]  # the kept unit of each label, labels ascending
    kept_label_index = np.searchsorted(sorted_labels[head], labels)
    return winner[kept_label_index]
