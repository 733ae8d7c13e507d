"""Semantic steps after dedupe's own: decontaminate by embedding similarity, then drop semantic duplicates.

They run on what decontamination, exact and MinHash near-dedupe kept, so the cheap steps shrink the set that has
to be embedded. Removed rows join dedupe's side tables: `_contamination.parquet` rows with match `semantic` and
their `similarity`, `_duplicates.parquet` rows of kind `semantic` with the kept row and the cosine similarity.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import polars as pl

from distill_cli.stages.dedupe.core import CONTAMINATION_SCHEMA, DUPLICATES_SCHEMA, DedupePlan, DedupeResult
from distill_cli.stages.dedupe.semantic import (
    SEMANTIC_ROW,
    SemanticConfig,
    nearest_reference,
    semantic_duplicates,
    unit_rows,
    units_of,
)
from distill_cli.stages.dedupe.units import ROW, UNIT

Embed = Callable[[pl.Series], np.ndarray]  # texts -> unit-norm rows (a Series: no copy as a Python list)


def _identity(df: pl.DataFrame) -> pl.DataFrame:
    cols = [pl.col(SEMANTIC_ROW).cast(pl.Int64).alias("row")]
    for name in ("id", "sample", "model"):
        dtype = DUPLICATES_SCHEMA[name]
        cols.append((pl.col(name) if name in df.columns else pl.lit(None)).cast(dtype, strict=False).alias(name))
    return df.select(cols)


def _rows(df: pl.DataFrame, on, unit_level: pl.DataFrame) -> pl.DataFrame:
    return (unit_level.join(unit_rows(df, on), on=UNIT, how="inner").join(_identity(df), on="row", how="left")
            .drop(UNIT).sort("row"))


def decontaminate(kept: pl.DataFrame, refs: pl.DataFrame, threshold: float, embed: Embed) -> pl.DataFrame:
    """Contamination rows (CONTAMINATION_SCHEMA + similarity) of prompts as similar as `threshold` to a reference."""
    prompts = units_of(kept, "prompt")
    i, r, sim = nearest_reference(embed(prompts["text"]), embed(refs["text"]), threshold)
    unit_level = pl.DataFrame({
        UNIT: prompts[UNIT].gather(i), "benchmark": refs["benchmark"].gather(r),
        "bench_index": refs["index"].gather(r).cast(pl.Int64), "bench_text": refs["text"].gather(r).str.slice(0, 200),
        "match": "semantic", "similarity": sim.astype(np.float64)},
        schema_overrides={UNIT: pl.String, "match": pl.String, "bench_text": pl.String})
    rows = _rows(kept, "prompt", unit_level)
    return rows.with_columns(ngram=pl.lit(None, pl.String), shared_ngrams=pl.lit(None, pl.Int64)).select(
        [*CONTAMINATION_SCHEMA, "similarity"]).cast(CONTAMINATION_SCHEMA)  # type: ignore[arg-type]  # dtype classes: see core.py


def duplicates(kept: pl.DataFrame, cfg: SemanticConfig, embed: Embed) -> tuple[pl.DataFrame, dict]:
    units = units_of(kept, cfg.on)
    removed, stats = semantic_duplicates(units, embed(units["text"]), cfg)
    rows = _rows(kept, cfg.on, removed)
    kept_ids = _identity(kept).select(pl.col("row").alias("kept_row"), pl.col("id").alias("kept_id"))
    rows = rows.join(kept_ids, on="kept_row", how="left", maintain_order="left")
    return rows.select(list(DUPLICATES_SCHEMA)).cast(DUPLICATES_SCHEMA), stats  # type: ignore[arg-type]  # see core.py


def steps(kept: pl.DataFrame, cfg: SemanticConfig, embed: Embed, refs: pl.DataFrame | None
          ) -> tuple[pl.DataFrame | None, pl.DataFrame | None, dict]:
    """(contamination rows, duplicate rows, stats) of the semantic steps over `kept` (a frame with SEMANTIC_ROW)."""
    stats: dict = {}
    contamination = duplicate_rows = None
    if cfg.decontaminate is not None and refs is not None and refs.height:
        contamination = decontaminate(kept, refs, cfg.decontaminate, embed)
        kept = kept.filter(~pl.col(SEMANTIC_ROW).is_in(contamination["row"].implode()))
        stats["contaminated_semantic"] = contamination.height
    if cfg.threshold is not None and kept.height > 1:
        duplicate_rows, more = duplicates(kept, cfg, embed)
        stats |= {"semantic": duplicate_rows.height, **more}
    return contamination, duplicate_rows, stats


def _merge(old: pl.DataFrame, new: pl.DataFrame | None) -> pl.DataFrame:
    return old if new is None else pl.concat([old, new], how="diagonal_relaxed")


def _stats(stats: dict, found: dict) -> dict:
    removed = {**stats.get("removed", {}), **{k: found[k] for k in ("contaminated_semantic", "semantic")
                                             if k in found}}
    return {**stats, **{k: v for k, v in found.items() if k.startswith("semantic_")}, "removed": removed}


def apply(result: DedupeResult, cfg: SemanticConfig, embed: Embed, refs: pl.DataFrame | None) -> DedupeResult:
    """The result of dedupe_frame over a frame that carried SEMANTIC_ROW, with the semantic steps applied."""
    contamination, dups, found = steps(result.kept, cfg, embed, refs)
    gone = pl.concat([f["row"] for f in (contamination, dups) if f is not None] or [pl.Series([], dtype=pl.Int64)])
    kept = result.kept.filter(~pl.col(SEMANTIC_ROW).is_in(gone.implode())).drop(SEMANTIC_ROW)
    return DedupeResult(kept, _merge(result.duplicates, dups), _merge(result.contamination, contamination),
                        _stats(result.stats, found))


def survivors(rows: pl.LazyFrame, plan: DedupePlan, on) -> pl.DataFrame:
    """What the semantic steps read of the rows dedupe's own steps kept: row number, identity, score, texts. A
    prompt unit's text is its first row's (units_of), so with --on prompt the other rows' copies are dropped: with
    8 samples a prompt the frame held 8 copies of every prompt."""
    names = rows.collect_schema().names()
    cols = [c for c in ("id", "sample", "model", "score", "prompt") if c in names]
    cols += ["response"] if on != "prompt" and "response" in names else []
    kept = rows.filter(~pl.col(ROW).is_in(plan.removed.implode())).select(pl.col(ROW).alias(SEMANTIC_ROW), *cols)
    if on == "prompt" and "id" in names:  # a unit's first row starts a run of its id (the samples of a prompt
        # are usually adjacent; a unit split into runs keeps one copy a run); a row without an id is its own unit
        first = pl.col("id").is_null() | (pl.col("id") != pl.col("id").shift(1)).fill_null(True)
        kept = kept.with_columns(pl.when(first).then(pl.col("prompt")).alias("prompt"))
    return kept.collect()


def apply_plan(plan: DedupePlan, kept: pl.DataFrame, cfg: SemanticConfig, embed: Embed,
               refs: pl.DataFrame | None) -> DedupePlan:
    """dedupe's plan with the semantic removals added (kept: `survivors` of it)."""
    contamination, dups, found = steps(kept, cfg, embed, refs)
    return DedupePlan(_merge(plan.duplicates, dups), _merge(plan.contamination, contamination),
                      _stats(plan.stats, found))
