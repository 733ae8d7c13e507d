"""Near duplicates over spilled band keys: candidate pairs band by band, verified by estimated Jaccard, joined by
union-find. Only the units that survived decontamination and exact dedupe take part (`alive`).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from distill_cli.stages.dedupe import lsh
from distill_cli.stages.dedupe.spill import THREADS, NearSpill


def near_labels(spill: NearSpill, alive: np.ndarray, threshold: float, stats: dict) -> np.ndarray:
    """Cluster label of every alive unit (the smallest position among alive units in its cluster).

    alive: sorted positions of the units compared, among all units in the spill.
    """
    n = len(alive)

    def band_codes(band: int) -> tuple[np.ndarray, dict]:
        report: dict = {}  # secondary: the previous band's key (the last band's for band 0)
        return lsh.band_pairs(spill.band(band, alive), lambda: spill.band(band - 1, alive), report), report

    # numpy's sorts and gathers release the GIL: bands sort in parallel (2 threads hold two bands' arrays)
    with ThreadPoolExecutor(THREADS, thread_name_prefix="bands") as pool:
        found = list(pool.map(band_codes, range(spill.bands)))
    reports = [r for _, r in found]
    unique = lsh.sorted_unique(np.concatenate([c for c, _ in found])) if found else np.empty(0, np.int64)
    del found
    i, j = unique // max(n, 1), unique % max(n, 1)
    del unique
    similar = spill.jaccard(alive[i], alive[j]) >= threshold
    stats["near_candidate_pairs"], stats["near_verified_pairs"] = len(i), int(similar.sum())
    stats["near_oversize_buckets"] = {"buckets": sum(r.get("oversize_buckets", 0) for r in reports),
                                      "members": sum(r.get("oversize_members", 0) for r in reports),
                                      "largest": max([r.get("largest_bucket", 0) for r in reports], default=0)}
    return lsh.components(n, i[similar], j[similar])
