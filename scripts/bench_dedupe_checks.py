"""Checks behind `make bench-dedupe` that are not timings: templated prompts, an exact Jaccard check, and why
planted near duplicates are missed (estimator variance or not).

Imported by scripts/bench_dedupe.py, whose subprocess workers call these functions.
"""

from __future__ import annotations

import numpy as np
import polars as pl

THRESHOLD, SHINGLE, BANDS, ROWS = 0.8, 3, 21, 6
NUM_PERM = BANDS * ROWS

NAMES = ["Alice", "Bob", "Carol", "Dan", "Eve", "Frank", "Grace", "Heidi", "Ivan", "Judy", "Mallory", "Oscar",
         "Peggy", "Trent", "Victor", "Wendy"]
ITEMS = ["apples", "pears", "marbles", "stickers", "cookies", "pencils", "books", "coins", "shells", "cards"]
PLACES = ["store", "market", "fair", "school", "mall"]
TEMPLATE = ("{} has {} {} and buys {} more bags of {} at the {}. Each bag holds {} {}. How many {} does {} have "
            "now? (problem {})")


def templated(n: int, seed: int = 0) -> pl.DataFrame:
    """Synthetic templated prompts: names, items and numbers change, the sentence does not. Every one is distinct;
    a few pairs agree in all but one or two slots and are real near duplicates (estimated Jaccard >= 0.8)."""
    rng = np.random.default_rng(seed)
    pick = {"name": NAMES, "item": ITEMS, "place": PLACES}
    cols = {k: np.array(v)[rng.integers(0, len(v), n)] for k, v in pick.items()}
    cols |= {"a": rng.integers(2, 100, n), "b": rng.integers(2, 50, n), "c": rng.integers(2, 20, n),
             "i": np.arange(n)}
    df = pl.DataFrame(cols).select(pl.format(TEMPLATE, "name", "a", "item", "b", "item", "place", "c", "item", "item",
                                             "name", "i").alias("prompt"))
    return df.select(pl.format("t{}", pl.int_range(n)).alias("id"), "prompt")


def with_planted(df: pl.DataFrame, k: int, seed: int = 1) -> pl.DataFrame:
    """k copies of random rows with their first or last word changed: one 3-word shingle of ~25 differs (exact
    Jaccard ~0.92), clear of the threshold, where a word in the middle (3 shingles, ~0.79) would sit on it."""
    rng = np.random.default_rng(seed)
    src = rng.choice(df.height, k, replace=False)
    texts = df["prompt"].gather(src).to_list()
    copies = []
    for text in texts:
        words = text.split(" ")
        words[-int(rng.integers(0, 2))] = "edited"
        copies.append(" ".join(words))
    planted = pl.DataFrame({"id": [f"p{i}" for i in range(k)], "prompt": copies})
    return pl.concat([df, planted])


def shingle_sets(prompts: pl.Series) -> list[np.ndarray]:
    """Each prompt's distinct shingle hashes, through distill's own normalization and shingling."""
    from distill_cli.stages.dedupe.text import normalize, shingle_hashes

    hashes, offsets = shingle_hashes(normalize(prompts), SHINGLE)
    return [np.unique(hashes[offsets[d]:offsets[d + 1]]) for d in range(len(offsets) - 1)]


def true_jaccard_pairs(prompts: pl.Series, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every pair (i < j) with exact Jaccard >= threshold, by a sparse document x shingle product in blocks."""
    from scipy import sparse

    sets = shingle_sets(prompts)
    vocab, inverse = np.unique(np.concatenate(sets), return_inverse=True)
    rows = np.repeat(np.arange(len(sets)), [len(s) for s in sets])
    x = sparse.csr_matrix((np.ones(len(rows), np.int32), (rows, inverse)), shape=(len(sets), len(vocab)))
    size = np.asarray(x.sum(axis=1)).ravel()
    found_i, found_j, found_s = [], [], []
    for start in range(0, len(sets), 2000):
        inter = (x[start:start + 2000] @ x.T).toarray()
        union = size[start:start + 2000, None] + size[None, :] - inter
        jac = inter / union
        ii, jj = np.nonzero(jac >= threshold)
        ii += start
        keep = ii < jj
        found_i.append(ii[keep])
        found_j.append(jj[keep])
        found_s.append(jac[ii[keep] - start, jj[keep]])
    return np.concatenate(found_i), np.concatenate(found_j), np.concatenate(found_s)


def exact_check(n: int) -> dict:
    """distill's near-dedupe removals against an exact Jaccard check (union-find over exact pairs >= threshold,
    first of each cluster kept) on n templated prompts plus 5% planted one-word edits."""
    from distill_cli.stages.dedupe import DedupeConfig, dedupe_frame
    from distill_cli.stages.dedupe.lsh import components

    df = with_planted(templated(n), n // 20)
    res = dedupe_frame(df, DedupeConfig(exact=False, near=THRESHOLD, shingle=SHINGLE, num_perm=NUM_PERM,
                                        bands=BANDS, rows=ROWS))
    ours = set(res.duplicates["row"].to_list())
    i, j, sim = true_jaccard_pairs(df["prompt"], THRESHOLD)
    labels = components(df.height, i, j)
    exact = set(np.flatnonzero(labels != np.arange(df.height)).tolist())
    differ = sorted(ours ^ exact)
    sets = shingle_sets(df["prompt"])
    extra = res.duplicates.filter(pl.col("row").is_in(sorted(ours - exact)))
    explained = [(round(len(np.intersect1d(sets[r], sets[k])) / len(np.union1d(sets[r], sets[k])), 3), round(e, 3))
                 for r, k, e in extra.select("row", "kept_row", "similarity").iter_rows()]
    return {"only_distill_exact_vs_estimated": explained, "only_exact": len(exact - ours),
            "rows": df.height, "removed": len(ours), "exact_removed": len(exact), "differ": len(differ),
            "exact_pairs": len(i), "min_exact_jaccard": round(float(sim.min()), 3) if len(sim) else None}


def recall_over_seeds(data, limit: int, seeds: list[int]) -> dict:
    """Planted pairs found per MinHash seed, and what estimator variance alone predicts.

    A planted pair (copy, source) is found when either is removed. For its exact Jaccard J, LSH makes it a
    candidate with P = 1 - (1 - J^rows)^bands and verification keeps it with P(Binomial(num_perm, J) >= t *
    num_perm); datatrove removes every candidate unverified, so its expected misses are sum (1 - J^r)^b.
    """
    from scipy.stats import binom

    from distill_cli.stages.dedupe import DedupeConfig, dedupe_frame

    df = pl.read_parquet(data).head(limit)
    pairs = pl.read_parquet(str(data).replace(".parquet", "-pairs.parquet"))
    ids = df["id"].to_list()
    row_of = {k: r for r, k in enumerate(ids)}
    pairs = pairs.filter(pl.col("copy").is_in(ids) & pl.col("source").is_in(ids))
    a = np.array([row_of[k] for k in pairs["copy"]])
    b = np.array([row_of[k] for k in pairs["source"]])
    sets = shingle_sets(df["prompt"])
    jac = np.array([len(np.intersect1d(sets[x], sets[y])) / len(np.union1d(sets[x], sets[y]))
                    for x, y in zip(a, b, strict=True)])
    cand = 1 - (1 - jac**ROWS) ** BANDS
    verify = binom.sf(int(np.ceil(THRESHOLD * NUM_PERM)) - 1, NUM_PERM, jac)
    missed, missed_sets = [], []
    for seed in seeds:
        res = dedupe_frame(df, DedupeConfig(exact=False, near=THRESHOLD, shingle=SHINGLE, num_perm=NUM_PERM,
                                            bands=BANDS, rows=ROWS, seed=seed))
        gone = np.zeros(df.height, bool)
        gone[res.duplicates["row"].to_numpy()] = True
        miss = ~(gone[a] | gone[b])
        missed.append(int(miss.sum()))
        missed_sets.append(set(np.flatnonzero(miss).tolist()))
    always = set.intersection(*missed_sets) if missed_sets else set()
    return {"pairs": len(a), "missed_per_seed": missed, "expected_missed": round(float((1 - cand * verify).sum()), 1),
            "datatrove_expected_missed": round(float((1 - cand).sum()), 1),
            "missed_true_jaccard_below_threshold": int(sum(jac[m] < THRESHOLD for m in set.union(*missed_sets))),
            "missed_in_every_seed": len(always),
            "min_pair_jaccard": round(float(jac.min()), 3), "mean_pair_jaccard": round(float(jac.mean()), 3)}
