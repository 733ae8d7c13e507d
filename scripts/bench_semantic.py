"""Benchmark semantic dedupe on 100k prompts with stored embeddings: time and memory, and recall against exact cosine.

The prompts are real benchmark problems (the bundled MATH-500 and GSM8K), each restated in numbered variants so
all are distinct texts (exact dedupe removes none); half of them come in clusters of 2-6 restatements of one
problem. Their embeddings are stored beforehand in dedupe's embedding cache, as an earlier run would have left
them, so the run embeds nothing: synthetic unit vectors (576 dimensions, the bundled model's width) with a
component every prompt shares (unrelated prompts sit at cosine ~0.3, as decoder embeddings do) and, for a
cluster, a centre plus noise whose size varies by cluster, so its pairs spread from cosine ~0.84 to ~0.99 around
the 0.9 threshold. Measured:

- `distill dedupe --semantic 0.9` as the real command (child process): wall and CPU seconds, peak RSS, pairs
  and clusters it reports, embeddings reused;
- the pair search it runs (`similar_pairs`, faiss IVF above 20,000 vectors) in a child of its own, with its time;
- exact all-pairs cosine (numpy products) of a random sample of rows against every row: recall of the index's
  pairs at the threshold, and how many true pairs dedupe's output put in one cluster.

    python scripts/bench_semantic.py                      # 100k prompts, 5k sample
    python scripts/bench_semantic.py --rows 20000 --sample 2000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchutil import table  # noqa: E402

DIM, THRESHOLD = 576, 0.9
MODEL = "bench/stored-embeddings"  # the cache's key: every embedding is stored, so no model is ever loaded
VARIANTS = ("Problem {k}. {p}", "Question {k}: {p}", "{p} (exercise {k})", "Exercise {k}. {p}",
            "Solve problem {k}: {p}", "{p} [item {k}]")


def problems() -> list[str]:
    root = Path(__file__).resolve().parents[1] / "distill_cli" / "benchmarks"
    out = [json.loads(line)["problem"] for line in (root / "math500_test.jsonl").read_text().splitlines()]
    return out + [json.loads(line)["question"] for line in (root / "gsm8k_test.jsonl").read_text().splitlines()]


def make_prompts(rows: int, seed: int = 0):
    """(prompts, unit vectors, cluster label per row; a singleton's label is its own)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    sizes, total = [], 0
    while total < rows // 2:  # half the rows in clusters
        sizes.append(int(rng.integers(2, 7)))
        total += sizes[-1]
    labels = np.r_[np.repeat(np.arange(len(sizes)), sizes), len(sizes) + np.arange(rows - total)][:rows]
    base = problems()
    source = rng.integers(0, len(base), labels.max() + 1)
    texts = [VARIANTS[k % len(VARIANTS)].format(k=k, p=base[source[label]]) for k, label in enumerate(labels)]
    shared = rng.standard_normal(DIM).astype(np.float32)
    shared /= np.linalg.norm(shared)
    centres = rng.standard_normal((labels.max() + 1, DIM)).astype(np.float32)
    centres = centres / np.linalg.norm(centres, axis=1, keepdims=True) + 0.65 * shared
    spread = rng.uniform(0.004, 0.022, labels.max() + 1).astype(np.float32)  # per cluster: pairs at ~0.84-0.99
    clustered = (labels < len(sizes))[:, None]
    vectors = centres[labels] + clustered * rng.standard_normal((rows, DIM)).astype(np.float32) \
        * spread[labels][:, None]
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    order = rng.permutation(rows)
    return [texts[k] for k in order], vectors[order], labels[order]


def store(root: Path, rows: int) -> tuple[Path, Path]:
    """prompts.parquet and the embedding cache holding every prompt's vector; the vectors also as a .npy."""
    import numpy as np
    import polars as pl

    from distill_cli.engines.embed import EmbeddingCache, text_keys

    texts, vectors, _ = make_prompts(rows)
    data = root / "prompts.parquet"
    pl.DataFrame({"id": [f"q{k}" for k in range(rows)], "prompt": texts}).write_parquet(data)
    cache = EmbeddingCache(root / "cache", MODEL)
    keys = text_keys(texts)
    for start in range(0, rows, 10_000):
        cache.save(keys[start:start + 10_000], vectors[start:start + 10_000])
    np.save(root / "vectors.npy", vectors)
    return data, root / "cache"


def search(vectors_path: Path, out: Path) -> None:
    import numpy as np

    from distill_cli.stages.dedupe.semantic import similar_pairs

    vectors = np.load(vectors_path)
    started = time.perf_counter()
    i, j, _ = similar_pairs(vectors, THRESHOLD)
    seconds = time.perf_counter() - started
    np.savez(out, i=i, j=j)
    out.with_suffix(".json").write_text(json.dumps({"seconds": seconds, "pairs": len(i)}))


def measured(argv: list[str]) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak RSS MiB) of a child process run to completion."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv)
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"benchmark command failed: {' '.join(argv)}")
    return time.perf_counter() - started, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def exact_truth(vectors, sample: int) -> tuple[set, float, set]:
    """Pairs (i < j) at cosine >= THRESHOLD with i or j in a random sample, by exact products; their time; the
    sample."""
    import numpy as np

    started = time.perf_counter()
    rows = np.sort(np.random.default_rng(1).choice(len(vectors), sample, replace=False))
    truth = set()
    for start in range(0, len(vectors), 20_000):
        a, b = np.nonzero(vectors[rows] @ vectors[start:start + 20_000].T >= THRESHOLD)
        pairs = zip(rows[a].tolist(), (b + start).tolist(), strict=True)
        truth |= {(min(x, y), max(x, y)) for x, y in pairs if x != y}
    return truth, time.perf_counter() - started, set(rows.tolist())


def clustered_together(out: Path, truth: set) -> int:
    """True pairs whose two rows dedupe's output puts in one cluster (same kept row)."""
    import polars as pl

    dups = pl.read_parquet(out / "_duplicates.parquet").filter(pl.col("kind") == "semantic")
    kept = dict(zip(dups["row"].to_list(), dups["kept_row"].to_list(), strict=True))
    return sum(kept.get(a, a) == kept.get(b, b) for a, b in truth)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--sample", type=int, default=5_000)
    ap.add_argument("--worker", choices=["store", "search"], help=argparse.SUPPRESS)
    ap.add_argument("--dir", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker == "store":
        store(args.dir, args.rows)
        return
    if args.worker == "search":
        search(args.dir / "vectors.npy", args.dir / "pairs.npz")
        return
    with tempfile.TemporaryDirectory(prefix="bench-semantic-") as tmp:
        root = Path(tmp)
        me = [sys.executable, __file__, "--rows", str(args.rows), "--dir", str(root)]
        measured([*me, "--worker", "store"])  # in a child, so the measured children never fork a big parent
        out = root / "out"
        wall, cpu, rss = measured([sys.executable, "-m", "distill_cli", "dedupe", str(root / "prompts.parquet"),
                                   "-o", str(out), "--semantic", str(THRESHOLD), "--embed-model", MODEL,
                                   "--embed-cache", str(root / "cache"), "-q"])
        _, s_cpu, s_rss = measured([*me, "--worker", "search"])
        import numpy as np

        stats = json.loads((out / "_stats.json").read_text())
        info = json.loads((root / "pairs.json").read_text())
        found = np.load(root / "pairs.npz")
        truth, exact_seconds, sample = exact_truth(np.load(root / "vectors.npy"), args.sample)
        found_pairs = {(a, b) for a, b in zip(found["i"].tolist(), found["j"].tolist(), strict=True)
                       if a in sample or b in sample}
        hit = len(truth & found_pairs)
        print(table([("distill dedupe --semantic", f"{args.rows:,}", f"{wall:.1f}", f"{cpu:.1f}", f"{rss:,.0f}",
                      f"{stats.get('semantic_pairs', 0):,}"),
                     ("its pair search alone (faiss)", f"{args.rows:,}", f"{info['seconds']:.1f}", f"{s_cpu:.1f}",
                      f"{s_rss:,.0f}", f"{info['pairs']:,}")],
                    ("run", "prompts", "wall s", "CPU s", "peak RSS MiB", "pairs >= threshold")))
        print(f"dedupe removed {stats.get('removed', {}).get('semantic', 0):,} semantic duplicates in "
              f"{stats.get('semantic_clusters', 0):,} clusters; embeddings {stats.get('semantic_embeddings')}")
        print(f"exact all-pairs cosine of a {args.sample:,}-row sample against all {args.rows:,} rows "
              f"({exact_seconds:.1f} s): {len(truth):,} true pairs >= {THRESHOLD}; the index found {hit:,}: "
              f"recall {hit / max(len(truth), 1):.4f} (target >= 0.99); false pairs {len(found_pairs - truth)}; "
              f"dedupe's output clusters {clustered_together(out, truth):,} of them together")


if __name__ == "__main__":
    main()
