"""The trace key (id, model, sample): one row per key, or grade counts a prompt's samples twice.

verify is where duplicated keys are stopped or dropped (`--drop-duplicates`, stages/verify/fill.py); the stages
after it check again, cheaply, so an input that did not come through verify (two runs concatenated by hand) cannot
slip through silently either: grade inside its own group-by, dedupe and export with one narrow scan.
"""

from __future__ import annotations

import polars as pl

from distill_cli.errors import BadInput

KEY = ("id", "model", "sample")


def describe(n_keys: int, first: dict, count: int, where: str, stage: str) -> str:
    return (f"{where}: {n_keys} (id, model, sample) key(s) appear more than once, the first (id {first['id']!r}, "
            f"model {first['model']!r}, sample {first['sample']}) {count} times; {stage} would count or keep them "
            "twice: run `distill verify --drop-duplicates` on the traces, or renumber samples when merging runs")


def check_unique(lf: pl.LazyFrame, where: str, stage: str) -> None:
    """Refuse an input in which an (id, model, sample) key repeats; inputs without those columns have no key."""
    if not set(KEY) <= set(lf.collect_schema().names()):
        return
    dup = (lf.select(KEY).with_row_index("__row").group_by(KEY)
           .agg(pl.len().alias("__n"), pl.col("__row").min()).filter(pl.col("__n") > 1)
           .collect(engine="streaming"))
    if dup.height:
        first = dup.sort("__row").row(0, named=True)
        raise BadInput(describe(dup.height, first, first["__n"], where, stage))
