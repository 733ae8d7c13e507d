"""Benchmark decontamination: word n-gram overlap (open-r1) plus an exact match that ignores numbers (Light-R1).

The reference side (a few thousand benchmark problems) is hashed once into a sorted array of n-gram hashes; each
prompt's n-grams are hashed the same way and looked up with one vectorized binary search. A prompt is
contaminated when it shares an n-gram with a benchmark problem, or when it equals one after removing digits,
punctuation and whitespace (the same problem with its numbers changed). Both sides are normalized first (NFKC,
lowercase, punctuation, `$` and LaTeX spacing removed), so re-spacing and re-casing do not hide a copy.

Boilerplate n-grams that occur in `common_items` or more different benchmark problems ("where m and n are
relatively prime positive integers", "write a python function to find the sum of") are not used: a training
prompt sharing only such a phrase with the benchmarks is not a copy of any one problem. Benchmark problems
shorter than n words have no n-gram and are matched by the exact check only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from distill_cli.stages.dedupe.text import ngram_hashes, normalize, stripped_key, word_hashes

PREFIX_CHARS = 200
DOCS_PER_CHUNK = 50_000


@dataclass(frozen=True)
class ReferenceIndex:
    """Hashed benchmark problems: items (benchmark, index, text), n-gram hashes sorted with their item."""

    items: pl.DataFrame
    hashes: np.ndarray  # uint64, sorted
    item_of: np.ndarray  # int64, item of each hash
    keys: pl.DataFrame  # key (stripped text) -> item, first item per key
    n: int
    dropped_common: int


def build_index(refs: pl.DataFrame, n: int, common_items: int) -> ReferenceIndex:
    """refs: columns benchmark, index, text (one row per benchmark problem)."""
    items = refs.select("benchmark", pl.col("index").cast(pl.Int64), pl.col("text").cast(pl.String).fill_null(""))
    norm = normalize(items["text"])
    hashes, doc, _ = ngram_hashes(word_hashes(norm), n)
    pairs = pl.DataFrame({"h": hashes, "item": doc}).unique(maintain_order=True)
    n_items = pairs.group_by("h").agg(pl.len().alias("n_items"), pl.col("item").min())
    dropped = 0
    if common_items > 0:
        dropped = int((n_items["n_items"] >= common_items).sum())
        n_items = n_items.filter(pl.col("n_items") < common_items)
    n_items = n_items.sort("h")
    keys = (
        pl.DataFrame({"key": stripped_key(norm), "item": np.arange(len(norm), dtype=np.int64)})
        .filter(pl.col("key") != "")
        .unique("key", keep="first", maintain_order=True)
    )
    return ReferenceIndex(items, n_items["h"].to_numpy(), n_items["item"].to_numpy().astype(np.int64),
                          keys, n, dropped)


def find_contamination(norm: pl.Series, index: ReferenceIndex) -> pl.DataFrame:
    """Contaminated documents: doc (position in norm), item, match ('exact' or 'ngram'), ngram (text or null).

    An exact match is reported in preference to an n-gram; among n-grams, the earliest in the prompt.
    """
    found = [_exact_matches(norm, index)]
    for start in range(0, len(norm), DOCS_PER_CHUNK):
        found.append(_ngram_matches(norm.slice(start, DOCS_PER_CHUNK), index, start))
    hits = pl.concat(found, how="vertical").unique("doc", keep="first", maintain_order=True).sort("doc")
    return hits.with_columns(
        pl.when(pl.col("match") == "ngram")
        .then(_ngram_text(norm, hits["doc"], hits["start"], index.n))
        .otherwise(None)
        .alias("ngram")
    ).drop("start")


_SCHEMA = {"doc": pl.Int64, "item": pl.Int64, "match": pl.String, "start": pl.Int64}


def _exact_matches(norm: pl.Series, index: ReferenceIndex) -> pl.DataFrame:
    keys = pl.DataFrame({"key": stripped_key(norm)}).with_row_index("doc")
    joined = keys.join(index.keys, on="key", how="inner")
    return joined.select(pl.col("doc").cast(pl.Int64), "item", pl.lit("exact").alias("match"),
                         pl.lit(None, pl.Int64).alias("start")).cast(_SCHEMA)  # type: ignore[arg-type]


def _ngram_matches(chunk: pl.Series, index: ReferenceIndex, offset: int) -> pl.DataFrame:
    if len(index.hashes) == 0:
        return pl.DataFrame(schema=_SCHEMA)
    hashes, doc, start = ngram_hashes(word_hashes(chunk), index.n)
    pos = np.searchsorted(index.hashes, hashes)
    pos[pos == len(index.hashes)] = 0
    hit = index.hashes[pos] == hashes
    # windows come in document order and position order, so the first hit of each document is its earliest
    doc, first = np.unique(doc[hit], return_index=True)
    return pl.DataFrame({
        "doc": doc + offset, "item": index.item_of[pos[hit][first]], "match": "ngram", "start": start[hit][first],
    }, schema=_SCHEMA)


def _ngram_text(norm: pl.Series, docs: pl.Series, starts: pl.Series, n: int) -> pl.Series:
    """The matched n-gram as normalized words, rebuilt for the few contaminated documents only."""
    texts = []
    for text, start in zip(norm.gather(docs).to_list(), starts.to_list(), strict=True):
        texts.append(None if start is None else " ".join(text.split(" ")[start:start + n]))
    return pl.Series("ngram", texts, pl.String)


def describe(hits: pl.DataFrame, index: ReferenceIndex) -> pl.DataFrame:
    """Hits -> the benchmark item each one matched: benchmark, bench_index, bench_text (a prefix)."""
    items = index.items.with_row_index("item").select(
        pl.col("item").cast(pl.Int64), "benchmark", pl.col("index").alias("bench_index"),
        pl.col("text").str.slice(0, PREFIX_CHARS).alias("bench_text"))
    return hits.join(items, on="item", how="left", maintain_order="left").drop("item")
