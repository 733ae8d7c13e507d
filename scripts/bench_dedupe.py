"""Benchmark `distill dedupe`: MinHash near-dedupe against datatrove and datasketch, and decontamination speed.

Synthetic prompts (Zipf-distributed words, 40-80 per prompt) with a known fraction of planted near duplicates
(one word changed: Jaccard of 3-word shingles >= 0.85) and a few embedded benchmark problems. Every method runs
in its own subprocess on the same rows with the same parameters (3-word shingles, 21 bands x 6 rows = 126
permutations, threshold 0.8) and reports its time, peak RSS and how many planted duplicates it removed.
datasketch (pure Python per document) and datatrove (per-document numpy, files between its 4 stages) run on a
subsample by default; the ratios compare rows per second, and distill also runs on that same subsample.

It also runs templated prompts against as many diverse ones, checks removals against exact Jaccard on a small
templated sample, and measures over MinHash seeds whether missed planted pairs are the estimator's variance.

    python scripts/bench_dedupe.py                 # 1M and 10M diverse, 4M templated, 50k for the baselines
    python scripts/bench_dedupe.py --rows 1000000 3000000 --templated-rows 1000000 --baseline-rows 20000
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_dedupe_checks as checks  # noqa: E402

from distill_cli.stages.dedupe import DedupeConfig  # noqa: E402

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
    copies = pl.DataFrame({"copy": ids[n_base:], "source": [f"b{k}" for k in sources.tolist()]})
    copies.write_parquet(str(path).replace(".parquet", "-pairs.parquet"))
    (path.with_suffix(".json")).write_text(json.dumps({"planted_benchmark": len(planted), "dups": n_dups}))


# ---------------------------------------------------------------- workers (one per subprocess)

def _texts(data: Path, limit: int):
    import polars as pl

    return pl.read_parquet(data).head(limit)


def run_distill_near(data: Path, limit: int) -> dict:
    """The dedupe command's own path (a narrow frame, texts streamed from the file, MinHash state spilled), minus
    writing the kept rows: what its memory is made of."""
    plan = _plan(data, limit, DedupeConfig(exact=False, near=THRESHOLD, shingle=SHINGLE, num_perm=NUM_PERM,
                                           bands=BANDS, rows=ROWS), None)
    out = {"rows": plan.stats["rows_in"], "seconds": plan.stats["seconds"], "removed": plan.duplicates.height,
           "candidates": plan.stats.get("near_candidate_pairs")}
    if not data.name.startswith("templated-"):
        import polars as pl

        ids = pl.scan_parquet(data).head(limit).select("id").collect()["id"].to_list()
        out["pairs_found"] = _pairs_found(data, ids, plan.duplicates["id"].to_list())
    return out


def _plan(data: Path, limit: int, cfg, refs):
    import polars as pl

    from distill_cli.stages.dedupe.run import _plan as plan_of

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-dedupe-") as tmp:
        plan, _ = plan_of(pl.scan_parquet(data).head(limit), cfg, refs, Path(tmp))
    plan.stats["seconds"] = time.perf_counter() - started
    return plan


def _templated_path(rows: int) -> Path:
    return Path(tempfile.gettempdir()) / "distill-bench-dedupe" / f"templated-{rows}.parquet"


def run_make_templated(data: Path, limit: int) -> dict:
    checks.templated(limit).write_parquet(data)
    return {"rows": limit}


def _pairs_found(data: Path, ids: list[str], removed: list[str]) -> int | None:
    """Planted pairs (copy, source) with either side removed."""
    import polars as pl

    side = Path(str(data).replace(".parquet", "-pairs.parquet"))
    if not side.exists():
        return None
    pairs = pl.read_parquet(side).filter(pl.col("copy").is_in(ids) & pl.col("source").is_in(ids))
    gone = pl.Series(removed, dtype=pl.String).implode()
    return pairs.filter(pl.col("copy").is_in(gone) | pl.col("source").is_in(gone)).height


def run_exact_check(data: Path, limit: int) -> dict:
    return checks.exact_check(limit)


def run_recall_seeds(data: Path, limit: int) -> dict:
    return checks.recall_over_seeds(data, limit, list(range(1, 6)))


def run_distill_decontam(data: Path, limit: int) -> dict:
    from distill_cli.stages.dedupe.references import load_references

    started = time.perf_counter()
    refs = load_references(["all"])
    plan = _plan(data, limit, DedupeConfig(exact=False, decontaminate=("all",)), refs)
    return {"rows": plan.stats["rows_in"], "seconds": time.perf_counter() - started,
            "removed": plan.contamination.height}


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
    gone = [pl.read_parquet(p, columns=["id"])["id"] for p in (work / "removed").glob("*.parquet")]
    removed = pl.concat(gone).to_list() if gone else []
    return {"rows": limit, "seconds": seconds, "removed": len(removed),
            "pairs_found": _pairs_found(data, _texts(data, limit)["id"].to_list(), removed)}


WORKERS = {"distill-near": run_distill_near, "make-templated": run_make_templated,
           "distill-decontam": run_distill_decontam, "datasketch": run_datasketch, "datatrove": run_datatrove,
           "exact-check": run_exact_check,
           "recall-seeds": run_recall_seeds}


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
    ap.add_argument("--rows", type=int, nargs="+", default=[1_000_000, 10_000_000],
                    help="diverse prompt counts for distill near-dedupe and decontamination, side by side")
    ap.add_argument("--templated-rows", type=int, default=4_000_000, help="templated prompts vs as many diverse")
    ap.add_argument("--baseline-rows", type=int, default=50_000, help="rows for datasketch and datatrove")
    ap.add_argument("--exact-check-rows", type=int, default=10_000)
    ap.add_argument("--dup-fraction", type=float, default=0.1)
    ap.add_argument("--skip", nargs="*", default=[], choices=[*WORKERS, "templated"])
    ap.add_argument("--worker", choices=list(WORKERS), help=argparse.SUPPRESS)
    ap.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        out = WORKERS[args.worker](args.data, args.rows[0])
        out["peak_rss_mb"] = peak_rss_mb()
        print(json.dumps(out))
        return

    print(f"near-dedupe: {SHINGLE}-word shingles, {BANDS} bands x {ROWS} rows ({NUM_PERM} permutations), "
          f"threshold {THRESHOLD}; {args.dup_fraction:.0%} planted near duplicates; cpus={os.cpu_count()}")
    sizes = sorted(set(args.rows))
    if "distill-near" not in args.skip:
        print("\ndiverse prompts, distill near-dedupe:")
        for n in sizes:
            _row("distill-near", n, spawn("distill-near", dataset(n, args.dup_fraction), n), int(n * args.dup_fraction))
    if "templated" not in args.skip:
        _templated(args.templated_rows, args.dup_fraction)
    _baselines(args)
    if "exact-check" not in args.skip:
        r = spawn("exact-check", Path("templated"), args.exact_check_rows)
        print(f"\nexact Jaccard check on {args.exact_check_rows:,} templated prompts + 5% planted one-word edits: "
              + (r.get("error") or f"distill removed {r['removed']}, exact check {r['exact_removed']} "
                 f"({r['exact_pairs']} pairs >= {THRESHOLD}, lowest {r['min_exact_jaccard']}); rows that differ: "
                 f"{r['differ']} (removed by the exact check only: {r['only_exact']}; by distill only, as (exact, "
                 f"estimated) Jaccard to its kept row: {r['only_distill_exact_vs_estimated']})"))
    if "distill-decontam" not in args.skip:
        print("\ndecontamination against all bundled benchmarks (2346 problems):")
        for n in sizes:
            r = spawn("distill-decontam", dataset(n, args.dup_fraction), n)
            meta = json.loads(dataset(n, args.dup_fraction).with_suffix(".json").read_text())
            print(f"  {n:>11,} prompts: " + (r.get("error") or
                  f"{r['seconds']:.1f}s ({r['rows'] / r['seconds']:,.0f} rows/s), peak RSS {r['peak_rss_mb']:.0f} "
                  f"MB; removed {r['removed']} (planted benchmark problems: {meta['planted_benchmark']})"))


def _templated(n: int, dup_fraction: float) -> None:
    """Templated prompts (one sentence, slots filled) against as many diverse ones: time, memory, candidates."""
    print(f"\n{n:,} templated prompts vs {n:,} diverse (candidate work must not grow with a bucket's square):")
    diverse = spawn("distill-near", dataset(n, dup_fraction), n)
    path = _templated_path(n)
    if not path.exists():
        spawn("make-templated", path, n)
    templ = spawn("distill-near", path, n)
    for name, r in (("diverse", diverse), ("templated", templ)):
        _row(f"near-{name}", n, r, None)
    if "error" not in diverse and "error" not in templ:
        print(f"  templated / diverse: time {templ['seconds'] / diverse['seconds']:.2f}x, peak RSS "
              f"{templ['peak_rss_mb'] / diverse['peak_rss_mb']:.2f}x (target <= 2x); candidate pairs "
              f"{templ['candidates']:,} vs {diverse['candidates']:,}")


def _baselines(args) -> None:
    small = args.baseline_rows
    data = dataset(small, args.dup_fraction, pairs=True)
    planted = json.loads(data.with_suffix(".json").read_text())["dups"]
    print(f"\n{small:,} prompts, distill against the baselines (same rows, same parameters):")
    results = []
    for method in ("distill-near", "datatrove", "datasketch"):
        if method not in args.skip:
            r = spawn(method, data, small)
            results.append((method, r))
            _row(method, small, r, planted)
    ref = next((r for m, r in results if m == "distill-near" and "error" not in r), None)
    if ref:
        for method, r in results:
            if method != "distill-near" and "error" not in r:
                speed = (ref["rows"] / ref["seconds"]) / (r["rows"] / r["seconds"])
                print(f"  distill is {speed:5.1f}x faster than {method}; {method} peak RSS is "
                      f"{r['peak_rss_mb'] / ref['peak_rss_mb']:.1f}x distill's")
    if "recall-seeds" not in args.skip:
        r = spawn("recall-seeds", data, small)
        print("  " + (r.get("error") or
              f"recall over MinHash seeds 1-5: planted pairs missed {r['missed_per_seed']} of {r['pairs']} "
              f"(expected from estimator variance: {r['expected_missed']}; datatrove, which removes candidates "
              f"unverified: {r['datatrove_expected_missed']}); missed in every seed: {r['missed_in_every_seed']}; "
              f"missed pairs with exact Jaccard < {THRESHOLD}: {r['missed_true_jaccard_below_threshold']}; "
              f"planted pairs' exact Jaccard min {r['min_pair_jaccard']}, mean {r['mean_pair_jaccard']}"))


def dataset(rows: int, dup_fraction: float, pairs: bool = False) -> Path:
    """Each size is its own dataset, so a planted duplicate's source is always in the rows compared."""
    cache = Path(tempfile.gettempdir()) / "distill-bench-dedupe"
    cache.mkdir(exist_ok=True)
    data = cache / f"prompts-v2-{rows}-{dup_fraction}.parquet"
    if not data.exists() or (pairs and not Path(str(data).replace(".parquet", "-pairs.parquet")).exists()):
        started = time.perf_counter()
        make_data(data, rows, dup_fraction)
        print(f"made {rows:,} synthetic prompts in {time.perf_counter() - started:.1f}s -> {data}")
    return data


def _row(method: str, n: int, r: dict, planted: int | None) -> None:
    if "error" in r:
        print(f"  {method:15s} {n:>11,} rows: FAILED {r['error']}")
        return
    found = f" (planted pairs found: {r['pairs_found']:,})" if r.get("pairs_found") is not None else ""
    tail = f" of {planted:,} planted{found}" if planted is not None else ""
    print(f"  {method:15s} {n:>11,} rows: {r['seconds']:8.1f}s  {r['rows'] / r['seconds']:>10,.0f} rows/s  "
          f"peak RSS {r['peak_rss_mb']:6.0f} MB  removed {r['removed']:>7,}{tail}")


if __name__ == "__main__":
    main()
