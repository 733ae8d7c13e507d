"""dedupe: the pure core. Decontaminate, then drop exact duplicates, then near duplicates; report every removal.

Order matters: a contaminated prompt is removed (and reported as contamination) before it could be chosen as the
kept copy of a duplicate cluster, and exact duplicates are settled by a cheap string grouping before MinHash.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from distill_cli.stages.dedupe import decontam, lsh, minhash
from distill_cli.stages.dedupe.exact import exact_labels
from distill_cli.stages.dedupe.near import near_labels
from distill_cli.stages.dedupe.text import normalize
from distill_cli.stages.dedupe.units import ROW, UNIT, Keep, On, build_units, pick_kept, unit_key

DUPLICATES_SCHEMA = {"row": pl.Int64, "id": pl.String, "sample": pl.Int64, "model": pl.String, "kind": pl.String,
                     "similarity": pl.Float64, "kept_row": pl.Int64, "kept_id": pl.String}
CONTAMINATION_SCHEMA = {"row": pl.Int64, "id": pl.String, "sample": pl.Int64, "model": pl.String,
                        "benchmark": pl.String, "bench_index": pl.Int64, "bench_text": pl.String,
                        "match": pl.String, "ngram": pl.String, "shared_ngrams": pl.Int64}


@dataclass(frozen=True)
class DedupeConfig:
    exact: bool = True
    near: float | None = None  # Jaccard threshold of near duplicates; None: no near dedupe
    on: On = "prompt"
    keep: Keep = "first"
    shingle: int = 3  # words per MinHash shingle (measured: docs/stages/dedupe.md)
    num_perm: int = 128
    bands: int | None = None  # None: chosen from the threshold (lsh.choose_bands)
    rows: int | None = None
    seed: int = 1
    decontaminate: tuple[str, ...] = ()
    ngram: int = 8
    common_ngram_items: int = 3  # an n-gram in this many benchmark problems is boilerplate; 0: use all
    min_ngrams: int = 3  # shared n-grams (with one benchmark problem) that make a copy; 1: open-r1's rule

    def lsh_shape(self) -> tuple[int, int]:
        if self.bands and self.rows:
            return self.bands, self.rows
        if self.near is None:
            return 0, 0
        bands, rows = lsh.choose_bands(self.near, self.num_perm)
        if self.rows:
            return self.num_perm // self.rows, self.rows
        if self.bands:
            return self.bands, self.num_perm // self.bands
        return bands, rows


@dataclass
class DedupeResult:
    kept: pl.DataFrame
    duplicates: pl.DataFrame
    contamination: pl.DataFrame
    stats: dict = field(default_factory=dict)


def dedupe_frame(df: pl.DataFrame, cfg: DedupeConfig, refs: pl.DataFrame | None = None) -> DedupeResult:
    """refs: decontamination references (benchmark, index, text); required when cfg.decontaminate is set."""
    df = df.with_row_index(ROW).with_columns(pl.col(ROW).cast(pl.Int64))
    stats: dict = {"rows_in": df.height, "seconds_by_step": {}}
    contamination = pl.DataFrame(schema=CONTAMINATION_SCHEMA)
    units = build_units(df, "prompt")
    norm = normalize(units["text"])
    units = units.drop("text")
    if cfg.decontaminate and refs is not None:
        started = time.perf_counter()
        contamination = _decontaminate(df, units, norm, cfg, refs, stats)
        df = df.filter(~pl.col(ROW).is_in(contamination["row"].implode()))
        clean = ~units["first_row"].is_in(contamination["row"].implode())
        units, norm = units.filter(clean), norm.filter(clean)
        stats["seconds_by_step"]["decontaminate"] = round(time.perf_counter() - started, 3)
    if cfg.on != "prompt":
        units = build_units(df, cfg.on)
        norm = normalize(units["text"])
        units = units.drop("text")
    stats["units"] = units.height
    found: list[pl.DataFrame] = []
    if cfg.exact:
        started = time.perf_counter()
        units, norm = _settle(units, norm, exact_labels(norm), None, "exact", cfg, found)
        stats["seconds_by_step"]["exact"] = round(time.perf_counter() - started, 3)
    if cfg.near is not None and units.height > 1:
        started = time.perf_counter()
        labels, sig = near_labels(norm, cfg.near, cfg.shingle, cfg.num_perm, cfg.seed, *cfg.lsh_shape(), stats)
        _settle(units, norm, labels, sig, "near", cfg, found)
        stats["seconds_by_step"]["near"] = round(time.perf_counter() - started, 3)
    duplicates = _duplicate_rows(df, cfg.on, found)
    removed = {kind: int((duplicates["kind"] == kind).sum()) for kind in ("exact", "near")}
    stats["removed"] = {"contaminated": contamination.height, **removed}
    kept = df.filter(~pl.col(ROW).is_in(duplicates["row"].implode())).drop(ROW)
    return DedupeResult(kept, duplicates, contamination, stats)


def _settle(units: pl.DataFrame, norm: pl.Series, labels: np.ndarray, sig: np.ndarray | None, kind: str,
            cfg: DedupeConfig, found: list[pl.DataFrame]) -> tuple[pl.DataFrame, pl.Series]:
    """Pick each cluster's kept unit, record the others, and return the surviving units."""
    kept = pick_kept(labels, units["length"].to_numpy(), units["score"].fill_null(np.nan).to_numpy(), cfg.keep)
    gone = np.flatnonzero(kept != np.arange(units.height))
    similarity = np.ones(len(gone)) if sig is None else minhash.jaccard_rows(sig, gone, kept[gone])
    found.append(pl.DataFrame({
        UNIT: units[UNIT].gather(gone), "kind": kind, "similarity": similarity,
        "kept_row": units["first_row"].gather(kept[gone]),
    }, schema={UNIT: pl.String, "kind": pl.String, "similarity": pl.Float64, "kept_row": pl.Int64}))
    survivors = np.flatnonzero(kept == np.arange(units.height))
    return units[survivors], norm.gather(survivors)


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
    return rows.select(list(DUPLICATES_SCHEMA)).cast(DUPLICATES_SCHEMA)  # type: ignore[arg-type]


def _decontaminate(df: pl.DataFrame, prompts: pl.DataFrame, norm: pl.Series, cfg: DedupeConfig,
                   refs: pl.DataFrame, stats: dict) -> pl.DataFrame:
    """prompts: the prompt units of df, norm: their normalized text."""
    index = decontam.build_index(refs, cfg.ngram, cfg.common_ngram_items, cfg.min_ngrams)
    hits = decontam.find_contamination(norm, index)
    unit_level = decontam.describe(hits, index).with_columns(
        prompts[UNIT].gather(hits["doc"]).alias(UNIT)).drop("doc").rename({"shared": "shared_ngrams"})
    rows = _rows_of(df, "prompt", unit_level)
    stats["contaminated_by_benchmark"] = dict(rows.group_by("benchmark").len().sort("benchmark").iter_rows())
    stats["reference_items"] = refs.height
    stats["boilerplate_ngrams_ignored"] = index.dropped_common
    return rows.select(list(CONTAMINATION_SCHEMA)).cast(CONTAMINATION_SCHEMA)  # type: ignore[arg-type]
