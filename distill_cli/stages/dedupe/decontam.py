"""Benchmark decontamination: word n-gram overlap (open-r1) plus an exact match that ignores numbers (Light-R1).

The reference side (a few thousand benchmark problems) is hashed once into a sorted array of n-gram hashes; each
prompt's n-grams are hashed the same way and looked up with one vectorized binary search. Both sides are
normalized first (NFKC, lowercase, punctuation, `$` and LaTeX spacing removed), so re-spacing and re-casing do not
hide a copy. A prompt is contaminated by a benchmark problem when

- it shares at least `min_ngrams` distinct n-grams with that problem (or all of the problem's n-grams, when it
  has fewer), or
- it equals the problem after removing digits, punctuation and whitespace (the problem with its numbers changed).

Two guards keep competition boilerplate from counting as a copy. N-grams found in `common_items` or more
benchmark problems ("where m and n are relatively prime positive integers", "write a python function to find the
sum of") are not used at all; and requiring a few shared n-grams (a shared span of n + min_ngrams - 1 words)
rejects the single n-gram that straddles such a phrase and one word before it ("is m n where m and n are"). A
real copy of a problem of w words shares w - n + 1 of them. Benchmark problems shorter than n words have no
n-gram and are matched by the exact check only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from distill_cli.stages.dedupe.text import ngram_hashes, normalize, stripped_key, word_hashes

PREFIX_CHARS = 200
DOCS_PER_CHUNK = 20_000
KEY_PREFIX = 8
FILTER_BITS = 24  # a 16 MB presence table over the top hash bits screens out ~99.5% of lookups


@dataclass(frozen=True)
class ReferenceIndex:
    """Hashed benchmark problems: items (benchmark, index, text), n-gram hashes sorted with their item."""

    items: pl.DataFrame
    hashes: np.ndarray  # uint64, sorted, unique
    item_of: np.ndarray  # int64: the (first) benchmark problem holding each hash
    need: np.ndarray  # int64 per item: shared n-grams needed to call a prompt a copy of it
    present: np.ndarray  # bool[2^FILTER_BITS]: some reference hash has these top bits
    keys: pl.DataFrame  # key (stripped text) -> item, first item per key
    n: int
    dropped_common: int


def build_index(refs: pl.DataFrame, n: int, common_items: int, min_ngrams: int = 3) -> ReferenceIndex:
    """refs: columns benchmark, index, text (one row per benchmark problem)."""
    items = refs.select("benchmark", pl.col("index").cast(pl.Int64), pl.col("text").cast(pl.String).fill_null(""))
    norm = normalize(items["text"])
    hashes, doc, _ = ngram_hashes(word_hashes(norm), n)
    pairs = pl.DataFrame({"h": hashes, "item": doc}).unique(maintain_order=True)
    by_hash = pairs.group_by("h").agg(pl.len().alias("n_items"), pl.col("item").min())
    dropped = 0
    if common_items > 0:
        dropped = int((by_hash["n_items"] >= common_items).sum())
        by_hash = by_hash.filter(pl.col("n_items") < common_items)
    by_hash = by_hash.sort("h")
    per_item = np.bincount(pairs.join(by_hash.select("h"), on="h")["item"].to_numpy(), minlength=items.height)
    keys = (
        pl.DataFrame({"key": stripped_key(norm), "item": np.arange(len(norm), dtype=np.int64)})
        .filter(pl.col("key") != "")
        .unique("key", keep="first", maintain_order=True)
    )
    sorted_hashes = by_hash["h"].to_numpy()
    present = np.zeros(1 << FILTER_BITS, bool)
    present[sorted_hashes >> np.uint64(64 - FILTER_BITS)] = True
    return ReferenceIndex(items, sorted_hashes, by_hash["item"].to_numpy().astype(np.int64),
                          np.minimum(per_item, max(1, min_ngrams)).astype(np.int64), present, keys, n, dropped)


# dtype classes, as in core.py: polars casts to them, its stubs want instances (the `type: ignore`s below)
_SCHEMA = {"doc": pl.Int64, "item": pl.Int64, "match": pl.String, "start": pl.Int64, "shared": pl.Int64}


def find_contamination(norm: pl.Series, index: ReferenceIndex) -> pl.DataFrame:
    """Contaminated documents: doc (position in norm), item, match ('exact' or 'ngram'), shared (n-grams shared
    with the item), ngram (the earliest shared n-gram's text, or null).

    An exact match is reported in preference to an n-gram match; among items, the one sharing the most n-grams.
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


def _exact_matches(norm: pl.Series, index: ReferenceIndex) -> pl.DataFrame:
    """Join on Light-R1's key, computed in full only for prompts whose key starts like some reference key.

    The key's first PREFIX letters come from the first few dozen characters of the text, which are cheap to
    strip; building the whole key of every prompt was the slowest step of decontamination.
    """
    head = stripped_key(norm.str.slice(0, 16 * KEY_PREFIX))
    known = index.keys["key"].str.slice(0, KEY_PREFIX).unique().implode()
    maybe = (head.str.len_chars() < KEY_PREFIX) | head.str.slice(0, KEY_PREFIX).is_in(known)
    docs = maybe.arg_true()
    keys = pl.DataFrame({"key": stripped_key(norm.gather(docs)), "doc": docs.cast(pl.Int64)})
    joined = keys.join(index.keys, on="key", how="inner")
    return joined.select("doc", "item", pl.lit("exact").alias("match"), pl.lit(None).alias("start"),
                         pl.lit(None).alias("shared")).cast(_SCHEMA).sort("doc")  # type: ignore


def _ngram_matches(chunk: pl.Series, index: ReferenceIndex, offset: int) -> pl.DataFrame:
    if len(index.hashes) == 0:
        return pl.DataFrame(schema=_SCHEMA)
    hashes, doc, start = ngram_hashes(word_hashes(chunk), index.n)
    maybe = np.flatnonzero(index.present[hashes >> np.uint64(64 - FILTER_BITS)])
    pos = np.searchsorted(index.hashes, hashes[maybe])
    pos[pos == len(index.hashes)] = 0
    found = index.hashes[pos] == hashes[maybe]
    if not found.any():
        return pl.DataFrame(schema=_SCHEMA)
    hit, pos = maybe[found], pos[found]
    shared = (
        pl.DataFrame({"doc": doc[hit] + offset, "item": index.item_of[pos], "h": hashes[hit],
                      "start": start[hit]})
        .group_by("doc", "item")
        .agg(pl.col("h").n_unique().alias("shared"), pl.col("start").min())
        .filter(pl.col("shared") >= pl.col("item").map_batches(lambda s: pl.Series(index.need[s.to_numpy()])))
        .sort(["doc", "shared", "item"], descending=[False, True, False])
        .unique("doc", keep="first", maintain_order=True)
    )
    return shared.select("doc", "item", pl.lit("ngram").alias("match"), "start", "shared").cast(_SCHEMA)  # type: ignore


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
