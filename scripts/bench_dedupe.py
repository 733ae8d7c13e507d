"""Benchmark `distill dedupe`: MinHash near-dedupe against datatrove and datasketch, and decontamination speed.

Synthetic prompts (Zipf-distributed words, 40-80 per prompt) with a known fraction of planted near duplicates
(one word changed: Jaccard of 3-word shingles >= 0.85) and a few embedded benchmark problems. Every method runs
in its own subprocess on the same rows with the same parameters (3-word shingles, 21 bands x 6 rows = 126
permutations, threshold 0.8) and reports its time, peak RSS and how many planted duplicates it removed.
datasketch (pure Python per document) and datatrove (per-document numpy, files between its 4 stages) run on a
subsample by default; the ratios compare rows per second, and distill also runs on that same subsample.

    python scripts/bench_dedupe.py                      # 1M rows for distill, 50k for the baselines
    python scripts/bench_dedupe.py --rows 200000 --baseline-rows 20000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

THRESHOLD, SHINGLE, BANDS, ROWS = 0.8, 3, 21, 6
NUM_PERM = BANDS * ROWS


# ---------------------------------------------------------------- data

def make_data(path: Path, rows: int, dup_fraction: float, seed: int = 0) -> None:
    import numpy as np
    import polars as pl

    from distill_cli.stages.dedupe.references import load_references

    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    vocab = np.array(["".join(letters[rng.integers(0, 26, rng.integers(2, 10))]) for _ in range(50_000)])
    n_dups = int(rows * dup_fraction)
    n_base = rows - n_dups
    lengths = rng.integers(40, 81, n_base)
    words = vocab[np.minimum(rng.zipf(1.3, lengths.sum()) - 1, len(vocab) - 1)]
    cut = np.cumsum(lengths)[:-1]
    base = [" ".join(w) for w in np.split(words, cut)]
    sources = rng.integers(0, n_base, n_dups)
    dups = []
    for src in sources.tolist():
        w = base[src].split(" ")
        w[rng.integers(0, len(w))] = "edited"
        dups.append(" ".join(w))
    refs = load_references(["all"])["text"].to_list()
    planted = rng.choice(len(refs), min(1000, n_base // 100), replace=False)
    for k, ref in zip(rng.choice(n_base, len(planted), replace=False).tolist(), planted.tolist(), strict=True):
        base[k] = f"Please solve: {refs[ref]} Explain."
    ids = [f"b{i}" for i in range(n_base)] + [f"d{i}" for i in range(n_dups)]
    df = pl.DataFrame({"id": ids, "prompt": base + dups}).sample(fraction=1.0, shuffle=True, seed=seed)
    df.write_parquet(path)
    (path.with_suffix(".json")).write_text(json.dumps({"planted_benchmark": len(planted), "dups": n_dups}))


# ---------------------------------------------------------------- workers (one per subprocess)

def _texts(data: Path, limit: int):
    import polars as pl

    return pl.read_parquet(data).head(limit)


def run_distill_near(data: Path, limit: int) -> dict:
    from distill_cli.stages.dedupe import DedupeConfig, dedupe_frame

    df = _texts(data, limit)
    started = time.perf_counter()
    res = dedupe_frame(df, DedupeConfig(exact=False, near=THRESHOLD, shingle=SHINGLE, num_perm=NUM_PERM,
                                        bands=BANDS, rows=ROWS))
    seconds = time.perf_counter() - started
    return {"rows": df.height, "seconds": seconds, "removed": res.duplicates.height}


def run_distill_decontam(data: Path, limit: int) -> dict:
    from distill_cli.stages.dedupe import DedupeConfig, dedupe_frame
    from distill_cli.stages.dedupe.references import load_references

    df = _texts(data, limit)
    started = time.perf_counter()
    refs = load_references(["all"])
    res = dedupe_frame(df, DedupeConfig(exact=False, decontaminate=("all",)), refs)
    return {"rows": df.height, "seconds": time.perf_counter() - started, "removed": res.contamination.height}


def _shingles(text: str) -> list[bytes]:
    words = text.lower().split()
    return [" ".join(words[i:i + SHINGLE]).encode() for i in range(max(1, len(words) - SHINGLE + 1))]


def run_datasketch(data: Path, limit: int) -> dict:
    from datasketch import MinHash, MinHashLSH

    df = _texts(data, limit)
    ids, texts = df["id"].to_list(), df["prompt"].to_list()
    started = time.perf_counter()
    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=NUM_PERM, params=(BANDS, ROWS))
    removed = []
    for key, text in zip(ids, texts, strict=True):
        m = MinHash(num_perm=NUM_PERM, seed=1)
        m.update_batch(_shingles(text))
        if lsh.query(m):
            removed.append(key)
        else:
            lsh.insert(key, m)
    return {"rows": len(ids), "seconds": time.perf_counter() - started, "removed": len(removed)}


def run_datatrove(data: Path, limit: int) -> dict:
    import polars as pl
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup import (
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.dedup.minhash import MinhashConfig
    from datatrove.pipeline.readers import ParquetReader
    from datatrove.pipeline.writers import ParquetWriter
    from datatrove.utils.word_tokenizers import WordTokenizer

    class Split(WordTokenizer):
        """Whitespace words (datatrove's English default needs spaCy; this is its fastest possible tokenizer)."""

        def word_tokenize(self, text):
            return text.split()

        def sent_tokenize(self, text):
            return [text]

        def span_tokenize(self, text):
            return [(0, len(text))]

    import datatrove.utils.hashes.xxhash as dt_xxhash
    import xxhash

    # datatrove 0.10 hands str to xxhash, which xxhash >= 4 refuses; encode for it (same hash, no extra cost)
    dt_xxhash.xxhash64 = lambda text: xxhash.xxh64_intdigest(text.encode() if isinstance(text, str) else text)
    work = Path(tempfile.mkdtemp(prefix="bench-datatrove-"))
    _texts(data, limit).write_parquet(work / "in.parquet")
    cfg = MinhashConfig(n_grams=SHINGLE, num_buckets=BANDS, hashes_per_bucket=ROWS)
    tok = Split()

    def reader():
        return ParquetReader(str(work), glob_pattern="in.parquet", text_key="prompt", id_key="id")

    started = time.perf_counter()
    stages = [
        ([reader(), MinhashDedupSignature(str(work / "sigs"), config=cfg, language=tok)], 1),
        ([MinhashDedupBuckets(str(work / "sigs"), str(work / "buckets"), config=cfg)], BANDS),
        ([MinhashDedupCluster(str(work / "buckets"), str(work / "remove"), config=cfg)], 1),
        ([reader(), MinhashDedupFilter(str(work / "remove"),
                                       exclusion_writer=ParquetWriter(str(work / "removed")))], 1),
    ]
    for i, (pipeline, tasks) in enumerate(stages):
        LocalPipelineExecutor(pipeline, tasks=tasks, workers=1, logging_dir=str(work / f"log{i}")).run()
    seconds = time.perf_counter() - started
    removed = sum(pl.scan_parquet(p).select(pl.len()).collect().item() for p in (work / "removed").glob("*.parquet"))
    return {"rows": limit, "seconds": seconds, "removed": removed}


WORKERS = {"distill-near": run_distill_near, "distill-decontam": run_distill_decontam,
           "datasketch": run_datasketch, "datatrove": run_datatrove}


# ---------------------------------------------------------------- driver

def peak_rss_mb() -> float:
    """VmHWM: this process's peak RSS (ru_maxrss would carry the parent's peak across exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def spawn(method: str, data: Path, limit: int) -> dict:
    cmd = [sys.executable, __file__, "--worker", method, "--data", str(data), "--rows", str(limit)]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return {"error": f"exit {proc.returncode}: {tail[:200]}"}
    return json.loads(lines[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows for distill (near and decontaminate)")
    ap.add_argument("--baseline-rows", type=int, default=50_000, help="rows for datasketch and datatrove")
    ap.add_argument("--dup-fraction", type=float, default=0.1)
    ap.add_argument("--skip", nargs="*", default=[], choices=list(WORKERS))
    ap.add_argument("--worker", choices=list(WORKERS), help=argparse.SUPPRESS)
    ap.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        out = WORKERS[args.worker](args.data, args.rows)
        out["peak_rss_mb"] = peak_rss_mb()
        print(json.dumps(out))
        return

    small = min(args.baseline_rows, args.rows)
    data = {n: dataset(n, args.dup_fraction) for n in sorted({args.rows, small})}
    meta = json.loads(data[args.rows].with_suffix(".json").read_text())
    print(f"near-dedupe: {SHINGLE}-word shingles, {BANDS} bands x {ROWS} rows ({NUM_PERM} permutations), "
          f"threshold {THRESHOLD}; {args.dup_fraction:.0%} planted near duplicates; cpus={os.cpu_count()}")
    plan = [("distill-near", args.rows), ("distill-near", small), ("datatrove", small), ("datasketch", small)]
    results = []
    for method, n in plan:
        if method in args.skip or (method == "distill-near" and n == args.rows and n == small and results):
            continue
        r = spawn(method, data[n], n)
        results.append((method, n, r))
        _row(method, n, r, json.loads(data[n].with_suffix(".json").read_text())["dups"])
    ref = next((r for m, n, r in results if m == "distill-near" and n == small and "error" not in r), None)
    if ref:
        print("\nthroughput ratio (distill rows/s / baseline rows/s, same rows):")
        for method, n, r in results:
            if method != "distill-near" and "error" not in r:
                speed = (ref["rows"] / ref["seconds"]) / (r["rows"] / r["seconds"])
                mem = r["peak_rss_mb"] / ref["peak_rss_mb"]
                print(f"  distill is {speed:5.1f}x faster than {method} on {n} rows; "
                      f"{method} peak RSS is {mem:.1f}x distill's")
    if "distill-decontam" not in args.skip:
        r = spawn("distill-decontam", data[args.rows], args.rows)
        print(f"\ndecontamination of {args.rows} prompts against all bundled benchmarks (2346 problems): ", end="")
        if "error" in r:
            print(r["error"])
        else:
            print(f"{r['seconds']:.1f}s ({r['rows'] / r['seconds']:,.0f} rows/s), peak RSS {r['peak_rss_mb']:.0f} "
                  f"MB; removed {r['removed']} (planted benchmark problems: {meta['planted_benchmark']}); "
                  f"target < 60 s: {'met' if r['seconds'] < 60 else 'NOT met'}")


def dataset(rows: int, dup_fraction: float) -> Path:
    """Each size is its own dataset, so a planted duplicate's source is always in the rows compared."""
    cache = Path(tempfile.gettempdir()) / "distill-bench-dedupe"
    cache.mkdir(exist_ok=True)
    data = cache / f"prompts-v2-{rows}-{dup_fraction}.parquet"
    if not data.exists():
        started = time.perf_counter()
        make_data(data, rows, dup_fraction)
        print(f"made {rows:,} synthetic prompts in {time.perf_counter() - started:.1f}s -> {data}")
    return data


def _row(method: str, n: int, r: dict, planted: int) -> None:
    if "error" in r:
        print(f"  {method:14s} {n:>9,} rows: FAILED {r['error']}")
        return
    print(f"  {method:14s} {n:>9,} rows: {r['seconds']:8.1f}s  {r['rows'] / r['seconds']:>10,.0f} rows/s  "
          f"peak RSS {r['peak_rss_mb']:6.0f} MB  removed {r['removed']:>7,} of {planted:,} planted")


if __name__ == "__main__":
    main()
