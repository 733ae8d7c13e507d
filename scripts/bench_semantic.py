"""Benchmark semantic dedupe on stored embeddings: time and memory of the pair search, recall against exact cosine.

Synthetic, random but clustered unit vectors (384 dimensions, as small sentence-embedding models have): clusters
of 2-6 near-duplicates (cosine ~0.96 to each other) among singletons, stored as a Parquet file like the embedding
cache's chunks. The pair search of `dedupe --semantic` (faiss: IVF index with sqrt(n) lists above 20,000 vectors)
runs on all of them in a child process that reports its time and peak RSS; then exact all-pairs cosine of a sample
of rows against every row (numpy matrix products) gives the true pairs of the sample, and recall is the share of
them the index found.

    python scripts/bench_semantic.py                      # 100k vectors, 5k sample
    python scripts/bench_semantic.py --rows 20000 --sample 2000
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchutil import run_measured, table  # noqa: E402

DIM, THRESHOLD = 384, 0.9


def make_vectors(rows: int, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    sizes, total = [], 0
    while total < rows // 2:  # half the rows in clusters
        sizes.append(int(rng.integers(2, 7)))
        total += sizes[-1]
    labels = np.r_[np.repeat(np.arange(len(sizes)), sizes), len(sizes) + np.arange(rows - total)][:rows]
    centres = rng.standard_normal((labels.max() + 1, DIM)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    clustered = labels < len(sizes)
    noise = rng.standard_normal((rows, DIM)).astype(np.float32) * 0.01
    vectors = centres[labels] + noise * clustered[:, None]
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors[rng.permutation(rows)]


def search(data: Path, out: Path) -> None:
    import numpy as np
    import polars as pl

    from distill_cli.stages.dedupe.semantic import similar_pairs

    vectors = np.ascontiguousarray(pl.read_parquet(data)["embedding"].to_numpy(), np.float32)
    started = time.perf_counter()
    i, j, _ = similar_pairs(vectors, THRESHOLD)
    seconds = time.perf_counter() - started
    np.savez(out, i=i, j=j)
    out.with_suffix(".json").write_text(json.dumps({"seconds": seconds, "pairs": len(i)}))


def recall(vectors, i, j, sample: int) -> tuple[float, int]:
    import numpy as np

    rows = np.random.default_rng(1).choice(len(vectors), sample, replace=False)
    truth = set()
    for start in range(0, len(vectors), 20_000):
        sims = vectors[rows] @ vectors[start:start + 20_000].T
        a, b = np.nonzero(sims >= THRESHOLD)
        b = b + start
        truth |= {(min(x, y), max(x, y)) for x, y in zip(rows[a].tolist(), b.tolist(), strict=True) if x != y}
    found = set(zip(i.tolist(), j.tolist(), strict=True))
    return len(truth & found) / max(len(truth), 1), len(truth)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--sample", type=int, default=5_000)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        search(args.data, args.out)
        return
    import numpy as np
    import polars as pl

    with tempfile.TemporaryDirectory(prefix="bench-semantic-") as tmp:
        data, out = Path(tmp) / "embeddings.parquet", Path(tmp) / "pairs.npz"
        vectors = make_vectors(args.rows)
        pl.DataFrame({"embedding": vectors}, schema={"embedding": pl.Array(pl.Float32, DIM)}).write_parquet(data)
        wall, rss = run_measured([sys.executable, __file__, "--worker", "--data", str(data), "--out", str(out)])
        found = np.load(out)
        info = json.loads(out.with_suffix(".json").read_text())
        started = time.perf_counter()
        share, truth = recall(vectors, found["i"], found["j"], args.sample)
        exact_seconds = time.perf_counter() - started
        print(table([("faiss pair search (dedupe --semantic)", f"{args.rows:,}", f"{info['seconds']:.1f}",
                      f"{wall:.1f}", f"{rss:,.0f}", f"{info['pairs']:,}")],
                    ("method", "vectors", "search s", "process s", "peak RSS MiB", "pairs")))
        print(f"recall vs exact all-pairs cosine >= {THRESHOLD} for a {args.sample:,}-row sample against all rows: "
              f"{share:.4f} of {truth:,} true pairs (target >= 0.99); exact check took {exact_seconds:.1f} s")


if __name__ == "__main__":
    main()
