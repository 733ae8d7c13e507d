"""Near duplicates: MinHash signatures and LSH band keys a chunk of documents at a time, then candidate pairs
band by band, verified by estimated Jaccard, joined by union-find.

Signatures are kept one document per row (what verification reads) and band keys one band per row (what the
bucket sort reads), so neither step gathers across the other's layout.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from distill_cli.stages.dedupe import lsh, minhash


def near_labels(norm: pl.Series, threshold: float, shingle: int, num_perm: int, seed: int, bands: int,
                rows: int, stats: dict) -> tuple[np.ndarray, np.ndarray]:
    """Cluster label of every document (the smallest index in its cluster), and the signatures by document."""
    n = len(norm)
    by_doc = np.empty((n, num_perm), np.uint16)
    keys = np.empty((bands, n), np.uint64)
    for start in range(0, n, minhash.DOCS_PER_CHUNK):
        sig = minhash.signatures(norm.slice(start, minhash.DOCS_PER_CHUNK), shingle, num_perm, seed)
        by_doc[start:start + sig.shape[1]] = sig.T
        keys[:, start:start + sig.shape[1]] = lsh.band_keys(sig, bands, rows)
    report: dict = {}
    codes = [lsh.band_pairs(keys[b], keys[(b + 1) % bands], report) for b in range(bands)]
    del keys
    unique = lsh.sorted_unique(np.concatenate(codes)) if codes else np.empty(0, np.int64)
    del codes
    i, j = unique // max(n, 1), unique % max(n, 1)
    similar = minhash.jaccard_rows(by_doc, i, j) >= threshold
    stats["near_candidate_pairs"], stats["near_verified_pairs"] = len(i), int(similar.sum())
    stats["near_oversize_buckets"] = {"buckets": report.get("oversize_buckets", 0),
                                      "members": report.get("oversize_members", 0),
                                      "largest": report.get("largest_bucket", 0)}
    return lsh.components(n, i[similar], j[similar]), by_doc
