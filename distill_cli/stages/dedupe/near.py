"""Near duplicates over spilled band keys: candidate pairs band by band, verified by estimated Jaccard, joined by
union-find. Only the units that survived decontamination and exact dedupe take part (`alive`).
"""

from __future__ import annotations

import numpy as np

from distill_cli.stages.dedupe import lsh
from distill_cli.stages.dedupe.spill import NearSpill


def near_labels(spill: NearSpill, alive: np.ndarray, threshold: float, stats: dict) -> np.ndarray:
    """Cluster label of every alive unit (the smallest position among alive units in its cluster).

    alive: sorted positions of the units compared, among all units in the spill.
    """
    n = len(alive)
    report: dict = {}
    codes = []
    secondary = spill.band(spill.bands - 1, alive) if spill.bands else None
    for band in range(spill.bands):
        key = spill.band(band, alive)
        codes.append(lsh.band_pairs(key, secondary, report))  # secondary: the previous band's key
        secondary = key
    unique = lsh.sorted_unique(np.concatenate(codes)) if codes else np.empty(0, np.int64)
    del codes
    i, j = unique // max(n, 1), unique % max(n, 1)
    del unique
    similar = spill.jaccard(alive[i], alive[j]) >= threshold
    stats["near_candidate_pairs"], stats["near_verified_pairs"] = len(i), int(similar.sum())
    stats["near_oversize_buckets"] = {"buckets": report.get("oversize_buckets", 0),
                                      "members": report.get("oversize_members", 0),
                                      "largest": report.get("largest_bucket", 0)}
    return lsh.components(n, i[similar], j[similar])
