"""Decontamination alone, decided batch by batch: memory holds one batch of prompts and the benchmark index.

Without exact or near dedupe nothing needs the whole input at once: each batch's prompts are checked against the
index of benchmark problems as they stream by, and only the hits are kept. The narrow frame and unit group-by of
the full plan (core.py) cost ~200 bytes a prompt (0.8 GB at 1M prompts, 2.3 GB at 4M); this path is the same at
1M and 10M. The unit rule is core.py's: a prompt unit (the rows sharing an id) is contaminated when its first
row's prompt is, and then every row of it is removed. A batch checks the first row of each of its units (the
unit's first row overall is one of those); a second pass over the ids keeps the hits that are their unit's first
row and lists every row of those units.
"""

from __future__ import annotations

import time

import polars as pl

from distill_cli.stages.dedupe import decontam
from distill_cli.stages.dedupe.config import DedupeConfig
from distill_cli.stages.dedupe.core import CONTAMINATION_SCHEMA, DUPLICATES_SCHEMA, Batches, DedupePlan
from distill_cli.stages.dedupe.text import normalize
from distill_cli.stages.dedupe.units import ROW, UNIT, unit_key

IDENTITY = ("id", "sample", "model")


def decontaminate_scan(batches: Batches, columns: list[str], cfg: DedupeConfig, refs: pl.DataFrame) -> DedupePlan:
    """The plan of a run that only decontaminates: batches of the input (ROW and the named columns, in row
    order); columns: the input's columns."""
    started = time.perf_counter()
    index = decontam.build_index(refs, cfg.ngram, cfg.common_ngram_items, cfg.min_ngrams)
    stats: dict = {"reference_items": refs.height, "boilerplate_ngrams_ignored": index.dropped_common}
    has_id = "id" in columns
    hits, rows_in = _hits(batches, index, has_id)
    stats["rows_in"] = rows_in
    if hits.height:
        hits = _first_rows_only(batches, hits, [c for c in IDENTITY if c in columns])
    contamination = _contamination_rows(hits, index)
    stats["contaminated_by_benchmark"] = dict(contamination.group_by("benchmark").len().sort("benchmark")
                                              .iter_rows())
    stats["removed"] = {"contaminated": contamination.height, "exact": 0, "near": 0}
    stats["seconds_by_step"] = {"decontaminate": round(time.perf_counter() - started, 3)}
    return DedupePlan(pl.DataFrame(schema=DUPLICATES_SCHEMA), contamination, stats)


def _hits(batches: Batches, index: decontam.ReferenceIndex, has_id: bool) -> tuple[pl.DataFrame, int]:
    """(UNIT, first ROW of the unit in its batch, the hit's columns) of every contaminated batch-first row."""
    found, rows_in = [], 0
    for batch in batches(["prompt", *(["id"] if has_id else [])]):
        rows_in += batch.height
        if not batch.height:
            continue
        firsts = batch.select(unit_key(batch, "prompt").alias(UNIT), ROW, "prompt").filter(
            pl.col(UNIT).is_first_distinct())
        hit = decontam.find_contamination(normalize(firsts["prompt"]), index)
        if hit.height:
            found.append(firsts.drop("prompt")[hit["doc"].to_numpy()].hstack(hit.drop("doc")))
    if not found:
        empty = decontam.find_contamination(pl.Series([], dtype=pl.String), index).drop("doc")
        return pl.DataFrame(schema={UNIT: pl.String, ROW: pl.Int64}).hstack(empty), rows_in
    return pl.concat(found), rows_in


def _first_rows_only(batches: Batches, hits: pl.DataFrame, identity: list[str]) -> pl.DataFrame:
    """Hits that are the first row of their unit, one row per input row of those units, with its identity."""
    keys = hits[UNIT].unique().implode()
    members = []
    for batch in batches(identity):
        frame = batch.with_columns(unit_key(batch, "prompt").alias(UNIT)).filter(pl.col(UNIT).is_in(keys))
        if frame.height:
            members.append(frame)
    rows = pl.concat(members)
    first = rows.group_by(UNIT).agg(pl.col(ROW).min().alias("first"))
    real = hits.join(first, on=UNIT).filter(pl.col(ROW) == pl.col("first")).drop(ROW, "first")
    return rows.join(real, on=UNIT, how="inner").sort(ROW)


def _contamination_rows(hits: pl.DataFrame, index: decontam.ReferenceIndex) -> pl.DataFrame:
    described = decontam.describe(hits, index).rename({"shared": "shared_ngrams", ROW: "row"})
    for name in IDENTITY:
        if name not in described.columns:
            described = described.with_columns(pl.lit(None).alias(name))
    out = described.select(list(CONTAMINATION_SCHEMA)).cast(CONTAMINATION_SCHEMA, strict=False)  # type: ignore[arg-type]  # dtype classes: see core.py
    return out if out.height else out.clear()
