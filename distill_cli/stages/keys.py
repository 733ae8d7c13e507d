"""The trace key (id, model, sample): one row per key, or grade counts a prompt's samples twice.

verify is where duplicated keys are stopped or dropped (`--drop-duplicates`, stages/verify/fill.py); the stages
after it check again, cheaply, so an input that did not come through verify (two runs concatenated by hand) cannot
slip through silently either: grade inside its own group-by, dedupe and export with one narrow scan.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from distill_cli.errors import BadInput

KEY = ("id", "model", "sample")


def describe(n_keys: int, first: dict, count: int, where: str, stage: str) -> str:
    return (f"{where}: {n_keys} (id, model, sample) key(s) appear more than once, the first (id {first['id']!r}, "
            f"model {first['model']!r}, sample {first['sample']}) {count} times; {stage} would count or keep them "
            "twice: run `distill verify --drop-duplicates` on the traces, or renumber samples when merging runs")


def check_unique(lf: pl.LazyFrame, where: str, stage: str) -> None:
    """Refuse an input in which an (id, model, sample) key repeats; inputs without those columns have no key.

    A 64-bit hash of every key, sorted, finds the candidates in 16 bytes a row; only the rows whose hash repeats
    are grouped by their real key (a collision of two different keys is no repeat). A group-by of every key held
    175 bytes a row (760 MB at 4M rows, and RSS kept it for the rest of the stage)."""
    if not set(KEY) <= set(lf.collect_schema().names()):
        return
    hashes = lf.select(pl.struct(KEY).hash()).collect(engine="streaming").to_series().to_numpy()
    order = np.argsort(hashes, kind="stable")
    ordered = hashes[order]
    same = ordered[1:] == ordered[:-1]
    rows = np.unique(np.concatenate([order[1:][same], order[:-1][same]]))  # rows whose hash another row has
    del hashes, order, ordered, same
    if not len(rows):
        return
    candidates = pl.col("__row").cast(pl.Int64).is_in(pl.Series(rows).implode())
    dup = (lf.select(KEY).with_row_index("__row").filter(candidates).group_by(KEY)
           .agg(pl.len().alias("__n"), pl.col("__row").min()).filter(pl.col("__n") > 1).collect())
    if dup.height:
        first = dup.sort("__row").row(0, named=True)
        raise BadInput(describe(dup.height, first, first["__n"], where, stage))
