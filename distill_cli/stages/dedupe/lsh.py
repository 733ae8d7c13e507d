"""Locality-sensitive hashing over MinHash signatures, and clusters of verified duplicate pairs.

Two documents become a candidate pair when all `rows` values of at least one of `bands` bands agree; a pair of
Jaccard similarity s is a candidate with probability P(s) = 1 - (1 - s^rows)^bands. Every candidate is then
verified by its estimated Jaccard, so LSH only has to be sensitive; false candidates cost a comparison, not a row.
"""

from __future__ import annotations

import numpy as np

from distill_cli.stages.dedupe.text import coefficients

TARGET_DETECTION = 0.99
BUCKET_WINDOW = 8  # each document is compared with up to this many following members of its bucket


def detection_probability(s: float, bands: int, rows: int) -> float:
    return 1.0 - (1.0 - s**rows) ** bands


def choose_bands(threshold: float, num_perm: int) -> tuple[int, int]:
    """The longest bands (fewest spurious candidates) that still catch a pair at the threshold with P >= 0.99."""
    best = (num_perm, 1)
    for rows in range(1, num_perm + 1):
        bands = num_perm // rows
        if detection_probability(threshold, bands, rows) >= TARGET_DETECTION:
            best = (bands, rows)
    return best


def candidate_pairs(sig: np.ndarray, bands: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Unique (i, j), i < j, of documents sharing a band.

    Within a bucket (equal band key) documents are sorted by position and each is paired with the next
    BUCKET_WINDOW members: all pairs for buckets up to that size, and a chain dense enough for union-find to join
    a big bucket of mutual duplicates without a quadratic number of comparisons.
    """
    n = sig.shape[1]
    codes = []
    key = np.empty(n, np.uint64)
    tmp = np.empty(n, np.uint64)
    for band in range(bands):
        coef = coefficients(rows, 1000 + band)
        key[:] = 0
        for r in range(rows):
            np.multiply(sig[band * rows + r].astype(np.uint64), coef[r], out=tmp)
            key += tmp
        order = np.argsort(key, kind="stable")
        ordered = key[order]
        for d in range(1, BUCKET_WINDOW + 1):
            same = ordered[d:] == ordered[:-d]
            if not same.any():
                break
            codes.append(order[:-d][same].astype(np.int64) * n + order[d:][same])
    if not codes:
        empty = np.empty(0, np.int64)
        return empty, empty
    unique = np.unique(np.concatenate(codes))
    return unique // n, unique % n


def components(n: int, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Union-find over edges, vectorized: each document's label is the smallest index in its component.

    Roots hook under the smaller root of each edge, then pointer jumping flattens the forest; repeat until no
    edge joins two roots. parent[x] <= x throughout, so it terminates and the root is the component's minimum.
    """
    parent = np.arange(n, dtype=np.int64)
    while len(i):
        ri, rj = parent[i], parent[j]
        differ = ri != rj
        if not differ.any():
            break
        lo, hi = np.minimum(ri[differ], rj[differ]), np.maximum(ri[differ], rj[differ])
        np.minimum.at(parent, hi, lo)
        while True:
            jumped = parent[parent]
            if np.array_equal(jumped, parent):
                break
            parent = jumped
    return parent
