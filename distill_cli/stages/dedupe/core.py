"""dedupe: the pure core. Decontaminate, then drop exact duplicates, then near duplicates; report every removal.

Order matters: a contaminated prompt is removed (and reported as contamination) before it could be chosen as the
kept copy of a duplicate cluster, and exact duplicates are settled by a cheap hash grouping before MinHash.

Memory is bounded by a batch of texts, not by the input: global decisions use a narrow frame (row, id, sample,
model, score, text length) and, per unit, 16 bytes of exact-match hashes; texts stream through a batch at a time,
and MinHash band keys and signatures are spilled to disk (spill.py). dedupe_scan takes the narrow frame and a
source of text batches; dedupe_frame runs it over an in-memory frame.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from distill_cli.stages.dedupe import decontam, minhash
from distill_cli.stages.dedupe.config import DedupeConfig  # noqa: F401
from distill_cli.stages.dedupe.exact import hash_labels, text_hashes
from distill_cli.stages.dedupe.near import near_labels
from distill_cli.stages.dedupe.spill import NearSpill
from distill_cli.stages.dedupe.text import normalize
from distill_cli.stages.dedupe.units import (
    LENGTH,
    ROW,
    UNIT,
    Keep,
    On,
    narrow_frame,
    pick_kept,
    unit_key,
    unit_table,
    unit_text,
)

# the side tables' columns as dtype classes (pl.Int64), as schema.py writes them; polars accepts them in cast() but
# its stubs ask for instances, hence the `type: ignore[arg-type]` on each cast of these below and in semantic_run.py
DUPLICATES_SCHEMA = {"row": pl.Int64, "id": pl.String, "sample": pl.Int64, "model": pl.String, "kind": pl.String,
                     "similarity": pl.Float64, "kept_row": pl.Int64, "kept_id": pl.String}
CONTAMINATION_SCHEMA = {"row": pl.Int64, "id": pl.String, "sample": pl.Int64, "model": pl.String,
                        "benchmark": pl.String, "bench_index": pl.Int64, "bench_text": pl.String,
                        "match": pl.String, "ngram": pl.String, "shared_ngrams": pl.Int64}
BATCH_ROWS = 100_000

# columns -> frames of ROW and those columns, in row order
Batches = Callable[[list[str]], Iterable[pl.DataFrame]]


@dataclass
class DedupeResult:
    kept: pl.DataFrame
    duplicates: pl.DataFrame
    contamination: pl.DataFrame
    stats: dict = field(default_factory=dict)


@dataclass
class DedupePlan:
    """What to remove: the side tables, and every removed row (contaminated or duplicate)."""

    duplicates: pl.DataFrame
    contamination: pl.DataFrame
    stats: dict

    @property
    def removed(self) -> pl.Series:
        return pl.concat([self.contamination["row"], self.duplicates["row"]])


def dedupe_frame(df: pl.DataFrame, cfg: DedupeConfig, refs: pl.DataFrame | None = None) -> DedupeResult:
    """refs: decontamination references (benchmark, index, text); required when cfg.decontaminate is set."""
    df = df.with_row_index(ROW).with_columns(pl.col(ROW).cast(pl.Int64))

    def batches(columns: list[str]) -> Iterator[pl.DataFrame]:
        for start in range(0, df.height, BATCH_ROWS):
            yield df.select(ROW, *columns).slice(start, BATCH_ROWS)

    if refs is not None and cfg.decontaminate and not cfg.exact and cfg.near is None:
        from distill_cli.stages.dedupe.decontam_scan import decontaminate_scan  # it imports this module

        plan = decontaminate_scan(batches, df.columns, cfg, refs)
    else:
        with tempfile.TemporaryDirectory(prefix="distill-dedupe-") as spill:
            plan = dedupe_scan(narrow_frame(df, cfg.on), batches, cfg, refs, Path(spill))
    kept = df.filter(~pl.col(ROW).is_in(plan.removed.implode())).drop(ROW)
    return DedupeResult(kept, plan.duplicates, plan.contamination, plan.stats)


def dedupe_scan(narrow: pl.DataFrame, batches: Batches, cfg: DedupeConfig, refs: pl.DataFrame | None,
                spill_dir: Path) -> DedupePlan:
    """narrow: narrow_frame of the input; batches: its texts; spill_dir: a fresh directory for MinHash state."""
    stats: dict = {"rows_in": narrow.height, "seconds_by_step": {}}
    prompts = unit_table(narrow, "prompt")
    units = prompts if cfg.on == "prompt" else unit_table(narrow, cfg.on)
    work = _Work(cfg, refs, units.height, spill_dir, stats)
    try:
        if work.index is not None:
            for start, norm in unit_texts(batches, "prompt", prompts["first_row"].to_numpy()):
                work.decontaminate(start, norm)
                if cfg.on == "prompt":
                    work.hash(start, norm)
        if (work.index is None or cfg.on != "prompt") and (cfg.exact or cfg.near is not None):
            for start, norm in unit_texts(batches, cfg.on, units["first_row"].to_numpy()):
                work.hash(start, norm)
        return work.settle(narrow, prompts, units)
    finally:
        work.close()


def unit_texts(batches: Batches, on: On, first_rows: np.ndarray) -> Iterator[tuple[int, pl.Series]]:
    """(position of the first unit, normalized texts) of consecutive units, a batch of input rows at a time."""
    columns = ["prompt"] if on == "prompt" else ["response"] if on == "response" else ["prompt", "response"]
    for batch in batches(columns):
        if not batch.height:
            continue
        rows = batch[ROW].to_numpy()
        lo, hi = np.searchsorted(first_rows, [rows[0], rows[-1] + 1])
        if hi > lo:
            at = np.searchsorted(rows, first_rows[lo:hi])
            yield int(lo), normalize(batch.select(unit_text(on)).to_series().gather(at))


class _Work:
    """Per-unit state gathered while texts stream by: contamination hits, exact hashes, spilled signatures."""

    def __init__(self, cfg: DedupeConfig, refs: pl.DataFrame | None, units: int, spill_dir: Path, stats: dict):
        self.cfg, self.stats = cfg, stats
        self.seconds = {"decontaminate": 0.0, "exact": 0.0, "near": 0.0}
        self.index = None
        if cfg.decontaminate and refs is not None:
            self.index = decontam.build_index(refs, cfg.ngram, cfg.common_ngram_items, cfg.min_ngrams)
            stats["reference_items"] = refs.height
            stats["boilerplate_ngrams_ignored"] = self.index.dropped_common
        self.hits: list[pl.DataFrame] = []
        self.hashes = np.empty((units, 2), np.uint64) if cfg.exact else None
        self.spill = None if cfg.near is None else NearSpill(spill_dir, *cfg.lsh_shape(), cfg.num_perm, cfg.shingle,
                                                             cfg.seed)

    def decontaminate(self, start: int, norm: pl.Series) -> None:
        started = time.perf_counter()
        found = decontam.find_contamination(norm, self.index)
        self.hits.append(found.with_columns(pl.col("doc") + start))
        self.seconds["decontaminate"] += time.perf_counter() - started

    def hash(self, start: int, norm: pl.Series) -> None:
        started = time.perf_counter()
        if self.hashes is not None:
            self.hashes[start:start + len(norm)] = text_hashes(norm)
        self.seconds["exact"] += time.perf_counter() - started
        started = time.perf_counter()
        if self.spill is not None:
            for s in range(0, len(norm), minhash.DOCS_PER_CHUNK):
                self.spill.add_texts(norm.slice(s, minhash.DOCS_PER_CHUNK))
        self.seconds["near"] += time.perf_counter() - started

    def close(self) -> None:
        if self.spill is not None:
            self.spill.close()  # first: drops what the workers still hold (after an error it is not written)
            self.spill.finish()

    def settle(self, narrow: pl.DataFrame, prompts: pl.DataFrame, units: pl.DataFrame) -> DedupePlan:
        cfg, stats = self.cfg, self.stats
        contamination = pl.DataFrame(schema=CONTAMINATION_SCHEMA)
        if self.index is not None:
            started = time.perf_counter()
            contamination = _contamination(narrow, prompts, self.hits, self.index, stats)
            self.seconds["decontaminate"] += time.perf_counter() - started
        alive = np.flatnonzero(~units["first_row"].is_in(contamination["row"].implode()).to_numpy())
        stats["units"] = len(alive)
        found: list[pl.DataFrame] = []
        if self.hashes is not None:
            started = time.perf_counter()
            alive = _settle(units, alive, hash_labels(self.hashes[alive]), "exact", cfg.keep, found)
            self.seconds["exact"] += time.perf_counter() - started
        if self.spill is not None:
            started = time.perf_counter()
            self.spill.finish()
            if len(alive) > 1:
                labels = near_labels(self.spill, alive, cfg.near, stats)
                _settle(units, alive, labels, "near", cfg.keep, found, self.spill.jaccard)
            self.seconds["near"] += time.perf_counter() - started
        steps = [("decontaminate", self.index is not None), ("exact", cfg.exact), ("near", cfg.near is not None)]
        stats["seconds_by_step"] = {k: round(self.seconds[k], 3) for k, ran in steps if ran}
        duplicates = _duplicate_rows(narrow, cfg.on, found)
        removed = {kind: int((duplicates["kind"] == kind).sum()) for kind in ("exact", "near")}
        stats["removed"] = {"contaminated": contamination.height, **removed}
        return DedupePlan(duplicates, contamination, stats)


def _settle(units: pl.DataFrame, alive: np.ndarray, labels: np.ndarray, kind: str, keep: Keep,
            found: list[pl.DataFrame], similarity_of: Callable | None = None) -> np.ndarray:
    """Pick each cluster's kept unit among the alive ones, record the others, and return the survivors."""
    sub = units[alive]
    kept = pick_kept(labels, sub[LENGTH].to_numpy(), sub["score"].fill_null(np.nan).to_numpy(), keep)
    gone = np.flatnonzero(kept != np.arange(len(alive)))
    similarity = np.ones(len(gone)) if similarity_of is None else similarity_of(alive[gone], alive[kept[gone]])
    found.append(pl.DataFrame({
        UNIT: sub[UNIT].gather(gone), "kind": kind, "similarity": similarity,
        "kept_row": sub["first_row"].gather(kept[gone]),
    }, schema={UNIT: pl.String, "kind": pl.String, "similarity": pl.Float64, "kept_row": pl.Int64}))
    return alive[kept == np.arange(len(alive))]


def _identity(df: pl.DataFrame) -> pl.DataFrame:
    """row, id, sample, model of every row (nulls for the columns the input lacks), typed per the schema."""
    cols = [pl.col(ROW).alias("row")]
    for name in ("id", "sample", "model"):
        dtype = DUPLICATES_SCHEMA[name]
        cols.append((pl.col(name) if name in df.columns else pl.lit(None)).cast(dtype, strict=False).alias(name))
    return df.select(cols)


def _rows_of(df: pl.DataFrame, on: On, unit_level: pl.DataFrame) -> pl.DataFrame:
    """Unit-level findings -> one row per input row of those units, with the rows' identity, in row order."""
    keys = df.select(unit_key(df, on).alias(UNIT), pl.col(ROW).alias("row"))
    return (unit_level.join(keys, on=UNIT, how="inner").join(_identity(df), on="row", how="left")
            .drop(UNIT).sort("row"))


def _duplicate_rows(df: pl.DataFrame, on: On, found: list[pl.DataFrame]) -> pl.DataFrame:
    if not found:
        return pl.DataFrame(schema=DUPLICATES_SCHEMA)
    rows = _rows_of(df, on, pl.concat(found))
    kept_ids = _identity(df).select(pl.col("row").alias("kept_row"), pl.col("id").alias("kept_id"))
    rows = rows.join(kept_ids, on="kept_row", how="left", maintain_order="left")
    return rows.select(list(DUPLICATES_SCHEMA)).cast(DUPLICATES_SCHEMA)  # type: ignore[arg-type]  # dtype classes: see core.py


def _contamination(narrow: pl.DataFrame, prompts: pl.DataFrame, hits: list[pl.DataFrame],
                   index: decontam.ReferenceIndex, stats: dict) -> pl.DataFrame:
    """Prompt-unit hits (doc = position among prompts) -> one row per contaminated input row."""
    found = pl.concat(hits or [decontam.find_contamination(pl.Series([], dtype=pl.String), index)])
    unit_level = decontam.describe(found, index).with_columns(
        prompts[UNIT].gather(found["doc"]).alias(UNIT)).drop("doc").rename({"shared": "shared_ngrams"})
    rows = _rows_of(narrow, "prompt", unit_level)
    stats["contaminated_by_benchmark"] = dict(rows.group_by("benchmark").len().sort("benchmark").iter_rows())
    return rows.select(list(CONTAMINATION_SCHEMA)).cast(CONTAMINATION_SCHEMA)  # type: ignore[arg-type]  # dtype classes: see core.py
