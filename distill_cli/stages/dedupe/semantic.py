"""Semantic dedupe: near duplicates of meaning, found by the cosine similarity of embeddings (pure core).

Pairs at or above the threshold come from faiss range search: an exact inner-product index (`IndexFlatIP`) up to
EXACT_UP_TO vectors, an inverted-file index above (`IndexIVFFlat`, sqrt(n) lists, `nprobe` of them searched per
query), which finds near-duplicate pairs with recall >= 0.99 against exact all-pairs cosine (scripts/
bench_semantic.py). Clusters are the connected components of those pairs and keep one unit by the same rule as
MinHash near-dup (`--keep`); every removed row is listed with its cluster's kept row and their cosine similarity.
Decontamination compares each prompt with the benchmark problems the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from distill_cli.stages.dedupe.lsh import components
from distill_cli.stages.dedupe.units import ROW, UNIT, Keep, On, pick_kept, unit_key, unit_text

EXACT_UP_TO = 20_000
SEMANTIC_ROW = "__semantic_row"  # the input row number, carried through dedupe's exact and near steps


@dataclass(frozen=True)
class SemanticConfig:
    threshold: float | None = None  # cosine similarity from which two units are duplicates; None: off
    on: On = "prompt"
    keep: Keep = "first"
    decontaminate: float | None = None  # cosine similarity to a benchmark problem that makes a prompt a copy
    nprobe: int = 16


def _faiss():
    from distill_cli.errors import require

    return require("faiss", "semantic")


def index_for(vectors: np.ndarray, nprobe: int = 16, exact_up_to: int = EXACT_UP_TO):
    """An inner-product index over unit vectors: exact when small, IVF (trained on the vectors) when large."""
    faiss = _faiss()
    n, d = vectors.shape
    if n <= exact_up_to:
        index = faiss.IndexFlatIP(d)
    else:
        lists = int(np.sqrt(n))
        index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, lists, faiss.METRIC_INNER_PRODUCT)
        sample = vectors[np.random.default_rng(0).choice(n, min(n, lists * 64), replace=False)]
        index.train(sample)
        index.nprobe = min(nprobe, lists)
    index.add(vectors)
    return index


def similar_pairs(vectors: np.ndarray, threshold: float, nprobe: int = 16, exact_up_to: int = EXACT_UP_TO
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(i, j, similarity) with i < j for every pair of rows at cosine >= threshold."""
    if len(vectors) < 2:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float32)
    vectors = np.ascontiguousarray(vectors, np.float32)
    index = index_for(vectors, nprobe, exact_up_to)
    # faiss returns results with similarity > radius: nudge it down so `>= threshold` is kept
    lims, sims, ids = index.range_search(vectors, float(np.nextafter(np.float32(threshold), np.float32(-1))))
    query = np.repeat(np.arange(len(vectors)), np.diff(lims).astype(np.int64))
    keep = query < ids
    return query[keep].astype(np.int64), ids[keep].astype(np.int64), sims[keep]


def cluster(n: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    return components(n, i, j)


def semantic_duplicates(units: pl.DataFrame, vectors: np.ndarray, cfg: SemanticConfig) -> tuple[pl.DataFrame,
                                                                                                 dict]:
    """Units (first_row, length, score, in input order) and their embeddings -> the removed units: UNIT, kind,
    similarity (cosine to the kept unit of their cluster), kept_row."""
    assert cfg.threshold is not None
    i, j, _ = similar_pairs(vectors, cfg.threshold, cfg.nprobe)
    labels = cluster(units.height, i, j)
    kept = pick_kept(labels, units["length"].to_numpy(), units["score"].fill_null(np.nan).to_numpy(), cfg.keep)
    gone = np.flatnonzero(kept != np.arange(units.height))
    similarity = np.einsum("ij,ij->i", vectors[gone], vectors[kept[gone]]).astype(np.float64)
    removed = pl.DataFrame({UNIT: units[UNIT].gather(gone), "kind": "semantic", "similarity": similarity,
                            "kept_row": units["first_row"].gather(kept[gone])},
                           schema={UNIT: pl.String, "kind": pl.String, "similarity": pl.Float64,
                                   "kept_row": pl.Int64})
    return removed, {"semantic_pairs": len(i), "semantic_clusters": int(len(np.unique(labels[gone])))}


def units_of(df: pl.DataFrame, on: On) -> pl.DataFrame:
    """dedupe's units of a frame that carries SEMANTIC_ROW: their first input row, text, length and score."""
    frame = df.rename({SEMANTIC_ROW: ROW})
    score = pl.col("score").cast(pl.Float64).mean() if "score" in frame.columns else pl.lit(None, pl.Float64)
    return (frame.group_by(unit_key(frame, on).alias(UNIT), maintain_order=True)
            .agg(pl.col(ROW).first().cast(pl.Int64).alias("first_row"), unit_text(on).first().alias("text"),
                 score.alias("score"))
            .with_columns(pl.col("text").str.len_chars().alias("length")))


def unit_rows(df: pl.DataFrame, on: On) -> pl.DataFrame:
    """UNIT -> input row, for every row of df."""
    frame = df.rename({SEMANTIC_ROW: ROW})
    return frame.select(unit_key(frame, on).alias(UNIT), pl.col(ROW).cast(pl.Int64).alias("row"))


def nearest_reference(prompts: np.ndarray, refs: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray,
                                                                                          np.ndarray]:
    """(prompt index, reference index, similarity) of each prompt whose most similar reference is >= threshold."""
    if len(prompts) == 0 or len(refs) == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float32)
    index = _faiss().IndexFlatIP(refs.shape[1])
    index.add(np.ascontiguousarray(refs, np.float32))
    sims, ids = index.search(np.ascontiguousarray(prompts, np.float32), 1)
    hit = sims[:, 0] >= threshold
    return np.flatnonzero(hit), ids[hit, 0].astype(np.int64), sims[hit, 0]
