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
    python scripts/bench_dedupe.py --rows 10000000 --skip templated baselines exact-check distill-decontam  # 10M only
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
from benchutil import table  # noqa: E402

from distill_cli.stages.dedupe import DedupeConfig  # noqa: E402

THRESHOLD, SHINGLE, BANDS, ROWS = 0.8, 3, 21, 6
CHUNK = 250_000  # prompts generated at a time
NUM_PERM = BANDS * ROWS


# ---------------------------------------------------------------- data

def make_data(path: Path, rows: int, dup_fraction: float, seed: int = 0) -> None:
    """rows prompts written CHUNK at a time (10M prompts of 40-80 words are ~4 GB of text; the generator holds one
    chunk): each chunk's planted near duplicates copy a prompt of the same chunk, and the benchmark problems are
    planted in the first chunk, so every size has the same number of them."""
    import numpy as np
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    vocab = np.array(["".join(letters[rng.integers(0, 26, rng.integers(2, 10))]) for _ in range(50_000)])
    writers: dict[str, pq.ParquetWriter] = {}
    planted = dups = 0
    for k, start in enumerate(range(0, rows, CHUNK)):
        prompts, pairs, n_planted = _chunk(vocab, min(CHUNK, rows - start), dup_fraction, k, seed)
        planted, dups = planted + n_planted, dups + pairs.height
        for name, frame in (("prompts", prompts), ("pairs", pairs)):
            table = frame.to_arrow()
            if name not in writers:
                out = path if name == "prompts" else Path(str(path).replace(".parquet", "-pairs.parquet"))
                writers[name] = pq.ParquetWriter(out, table.schema, compression="zstd")
            writers[name].write_table(table)
    for writer in writers.values():
        writer.close()
    (path.with_suffix(".json")).write_text(json.dumps({"planted_benchmark": planted,
                                                       "dups": dups}))


def _chunk(vocab, rows: int, dup_fraction: float, k: int, seed: int):
    """One chunk: base prompts of Zipf words, one-word-edited copies of some of them, shuffled. Built as polars list
    columns (a Python loop over 10M prompts took most of an hour on the busy 2-core machine)."""
    import numpy as np
    import polars as pl
    import pyarrow as pa

    from distill_cli.stages.dedupe.references import load_references

    rng = np.random.default_rng([seed, k])
    n_dups = int(rows * dup_fraction)
    n_base = rows - n_dups
    lengths = rng.integers(40, 81, n_base)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    flat = pl.Series(vocab).gather(np.minimum(rng.zipf(1.3, offsets[-1]) - 1, len(vocab) - 1))
    lists = pl.Series(pa.LargeListArray.from_arrays(pa.array(offsets), flat.to_arrow()))
    sources = rng.integers(0, n_base, n_dups)
    copies = lists.gather(sources)  # each copy: one word of its source replaced by "edited"
    at = np.concatenate([[0], np.cumsum(lengths[sources])])[:-1] + rng.integers(0, lengths[sources])
    edited = copies.explode().scatter(at, "edited")
    copy_offsets = np.concatenate([[0], np.cumsum(lengths[sources])]).astype(np.int64)
    dups = pl.Series(pa.LargeListArray.from_arrays(pa.array(copy_offsets), edited.to_arrow())).list.join(" ")
    base = lists.list.join(" ")
    planted = np.empty(0, int)
    if k == 0:
        refs = load_references(["all"])["text"].to_list()
        planted = rng.choice(len(refs), min(1000, n_base // 100), replace=False)
        at = rng.choice(n_base, len(planted), replace=False)
        base = base.scatter(at, [f"Please solve: {refs[r]} Explain." for r in planted.tolist()])
    ids_base = pl.select(pl.format("b{}-{}", pl.lit(k), pl.int_range(n_base))).to_series()
    ids_dup = pl.select(pl.format("d{}-{}", pl.lit(k), pl.int_range(n_dups))).to_series()
    prompts = pl.DataFrame({"id": pl.concat([ids_base, ids_dup]), "prompt": pl.concat([base, dups])})
    prompts = prompts.sample(fraction=1.0, shuffle=True, seed=seed + k)
    pairs = pl.DataFrame({"copy": ids_dup, "source": ids_base.gather(sources)})
    return prompts, pairs, len(planted)


# ---------------------------------------------------------------- workers (one per subprocess)

def _texts(data: Path, limit: int):
    import polars as pl

    return pl.read_parquet(data).head(limit)


def run_distill_near(data: Path, limit: int) -> dict:
    """The dedupe command's own path (a narrow frame, texts streamed from the file, MinHash state spilled), minus
    writing the kept rows: what its memory is made of."""
    plan = _plan(data, limit, DedupeConfig(exact=False, near=THRESHOLD, shingle=SHINGLE, num_perm=NUM_PERM,
                                           bands=BANDS, rows=ROWS), None)
    from distill_cli.stages.dedupe import native

    out = {"rows": plan.stats["rows_in"], "seconds": plan.stats["seconds"], "removed": plan.duplicates.height,
           "kernel": "C" if native.kernel() is not None else "numpy",
           "cpu_seconds": plan.stats["cpu_seconds"],
           "candidates": plan.stats.get("near_candidate_pairs"), "peak_rss_mb": peak_rss_mb()}  # before the check
    if not data.name.startswith("templated-"):
        import polars as pl

        ids = pl.scan_parquet(data).head(limit).select("id").collect()["id"]
        out["pairs_found"] = _pairs_found(data, ids, plan.duplicates["id"])
    return out


def _plan(data: Path, limit: int, cfg, refs):
    import polars as pl

    from distill_cli.stagedir.inputs import open_input
    from distill_cli.stagedir.runner import RunOptions
    from distill_cli.stages.dedupe.run import _plan as plan_of
    from distill_cli.stages.dedupe.run import text_batches

    started, cpu = time.perf_counter(), time.process_time()
    with tempfile.TemporaryDirectory(prefix="bench-dedupe-") as tmp:
        texts = text_batches(open_input(str(data)), RunOptions(Path(tmp), limit=limit))
        plan, _ = plan_of(pl.scan_parquet(data).head(limit), cfg, refs, Path(tmp), texts)
    plan.stats["seconds"] = time.perf_counter() - started
    plan.stats["cpu_seconds"] = time.process_time() - cpu  # every thread's: on a busy machine the wall time lies
    return plan


def _templated_path(rows: int) -> Path:
    return Path(tempfile.gettempdir()) / "distill-bench-dedupe" / f"templated-{rows}.parquet"


def run_make_templated(data: Path, limit: int) -> dict:
    checks.templated(limit).write_parquet(data)
    return {"rows": limit}


def _pairs_found(data: Path, ids, removed) -> int | None:
    """Planted pairs (copy, source) among the rows `ids` with either side in `removed` (string Series)."""
    import polars as pl

    side = Path(str(data).replace(".parquet", "-pairs.parquet"))
    if not side.exists():
        return None
    ids = pl.Series(ids, dtype=pl.String).implode()
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
            "cpu_seconds": plan.stats["cpu_seconds"], "removed": plan.contamination.height}


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
            "pairs_found": _pairs_found(data, _texts(data, limit)["id"], removed)}


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
    ap.add_argument("--skip", nargs="*", default=[], choices=[*WORKERS, "templated", "baselines", "diverse"],
                    help="parts to leave out (baselines: the 50k comparison and the recall over seeds; diverse: "
                         "the --rows sizes)")
    ap.add_argument("--worker", choices=list(WORKERS), help=argparse.SUPPRESS)
    ap.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        load = os.getloadavg()[0]
        out = WORKERS[args.worker](args.data, args.rows[0])
        out.setdefault("peak_rss_mb", peak_rss_mb())
        out["load"] = [round(load, 1), round(os.getloadavg()[0], 1)]  # 1-minute load average, start and end
        print(json.dumps(out))
        return

    print(f"near-dedupe: {SHINGLE}-word shingles, {BANDS} bands x {ROWS} rows ({NUM_PERM} permutations), "
          f"threshold {THRESHOLD}; {args.dup_fraction:.0%} planted near duplicates; cpus={os.cpu_count()}")
    sizes = sorted(set(args.rows))
    dataset(max([*sizes, args.templated_rows]), args.dup_fraction)  # the largest first: smaller sets are its head
    found: dict = {"near": {}, "decontam": {}}
    if "distill-near" not in args.skip and "diverse" not in args.skip:
        print("\ndiverse prompts, distill near-dedupe:")
        for n in sizes:
            found["near"][n] = spawn("distill-near", dataset(n, args.dup_fraction), n)
            _row("distill-near", n, found["near"][n], int(n * args.dup_fraction))
    if "templated" not in args.skip:
        found["templated"] = _templated(args.templated_rows, args.dup_fraction)
    found["baselines"] = _baselines(args) if "baselines" not in args.skip else {}
    if "exact-check" not in args.skip:
        r = found["exact"] = spawn("exact-check", Path("templated"), args.exact_check_rows)
        print(f"\nexact Jaccard check on {args.exact_check_rows:,} templated prompts + 5% planted one-word edits: "
              + (r.get("error") or f"distill removed {r['removed']}, exact check {r['exact_removed']} "
                 f"({r['exact_pairs']} pairs >= {THRESHOLD}, lowest {r['min_exact_jaccard']}); rows that differ: "
                 f"{r['differ']} (removed by the exact check only: {r['only_exact']}; by distill only, as (exact, "
                 f"estimated) Jaccard to its kept row: {r['only_distill_exact_vs_estimated']})"))
    if "distill-decontam" not in args.skip and "diverse" not in args.skip:
        print("\ndecontamination against all bundled benchmarks (2346 problems):")
        for n in sizes:
            r = found["decontam"][n] = spawn("distill-decontam", dataset(n, args.dup_fraction), n)
            meta = json.loads(dataset(n, args.dup_fraction).with_suffix(".json").read_text())
            print(f"  {n:>11,} prompts: " + (r.get("error") or
                  f"{r['seconds']:.1f}s ({r['cpu_seconds']:.1f}s CPU, {_per_million(r)}s CPU per 1M rows; load "
                  f"{_load(r)}) {r['rows'] / r['seconds']:,.0f} rows/s, peak RSS {r['peak_rss_mb']:.0f} MB; removed "
                  f"{r['removed']} (planted benchmark problems: {meta['planted_benchmark']})"))
    summary(found, sizes, args.templated_rows, args.exact_check_rows)


def _templated(n: int, dup_fraction: float) -> tuple[dict, dict]:
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
    return diverse, templ


def _baselines(args) -> dict:
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
    out = dict(results)
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
        out["recall"] = r
    return out


def summary(found: dict, sizes: list[int], templated_rows: int, exact_rows: int) -> None:
    """The issue's targets side by side: sizes in columns, measured values, and whether each target is met."""
    cols = [f"{n:,}" for n in sizes]
    near, decon = found["near"], found["decontam"]

    def cells(by_size: dict, value) -> list[str]:
        return [value(by_size[n]) if _ok(by_size.get(n)) else "-" for n in sizes]

    lines = []
    if near:
        big = near.get(sizes[-1])
        lines += [("near-dedupe seconds", *cells(near, lambda r: f"{r['seconds']:.1f}"), ""),
                  ("near-dedupe CPU seconds", *cells(near, lambda r: f"{r['cpu_seconds']:.1f}"), ""),
                  ("near-dedupe CPU s per 1M rows", *cells(near, _per_million), "(the same at every size)"),
                  ("near-dedupe load average", *cells(near, _load), "(1-min, start->end; 2 cpus)"),
                  ("near-dedupe rows/s", *cells(near, lambda r: f"{r['rows'] / r['seconds']:,.0f}"),
                   _met(_ok(big) and big["rows"] / big["seconds"] >= 66_000, f">= 66,000 at {cols[-1]}")),
                  ("near-dedupe rows per CPU s", *cells(near, lambda r: f"{r['rows'] / r['cpu_seconds']:,.0f}"),
                   "(2 cores: wall >= CPU / 2)"),
                  ("near-dedupe peak RSS MB", *cells(near, lambda r: f"{r['peak_rss_mb']:.0f}"),
                   _met(_ok(big) and big["peak_rss_mb"] < 4096, f"< 4096 at {cols[-1]}"))]
    if decon:
        rss = [decon[n]["peak_rss_mb"] for n in sizes if _ok(decon.get(n))]
        lines += [("decontamination seconds", *cells(decon, lambda r: f"{r['seconds']:.1f}"), ""),
                  ("decontamination CPU seconds", *cells(decon, lambda r: f"{r['cpu_seconds']:.1f}"), ""),
                  ("decontamination CPU s per 1M", *cells(decon, _per_million), ""),
                  ("decontamination load average", *cells(decon, _load), ""),
                  ("decontamination peak RSS MB", *cells(decon, lambda r: f"{r['peak_rss_mb']:.0f}"),
                   _met(len(rss) == len(sizes) and max(rss) <= 1.1 * min(rss), "the same (within 10%)"))]
    if lines:
        print(f"\nsummary, diverse prompts (load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cpus):")
        print(table(lines, ("measure", *cols, "target")))
    diverse, templ = found.get("templated", ({}, {}))
    if _ok(diverse) and _ok(templ):
        t, m = templ["seconds"] / diverse["seconds"], templ["peak_rss_mb"] / diverse["peak_rss_mb"]
        c = templ["cpu_seconds"] / diverse["cpu_seconds"]
        print(f"{templated_rows:,} templated vs diverse: wall {templ['seconds']:.1f}s / {diverse['seconds']:.1f}s = "
              f"{t:.2f}x, CPU {templ['cpu_seconds']:.1f}s / {diverse['cpu_seconds']:.1f}s = {c:.2f}x, peak RSS "
              f"{templ['peak_rss_mb']:.0f} / {diverse['peak_rss_mb']:.0f} MB = {m:.2f}x: "
              + _met(c <= 2 and m <= 2, "CPU time and memory <= 2x"))
    exact = found.get("exact")
    if _ok(exact):
        print(f"removals vs an exact Jaccard check on {exact_rows:,} templated prompts (+5% planted): distill "
              f"{exact['removed']}, exact {exact['exact_removed']}, rows that differ {exact['differ']}: "
              + _met(exact["differ"] == 0, "equal"))
    base = found.get("baselines", {})
    ours, dt, rec = base.get("distill-near"), base.get("datatrove"), base.get("recall")
    if _ok(ours) and _ok(dt):
        line = (f"recall on {ours['rows']:,} prompts: planted pairs found by distill {ours['pairs_found']:,}, by "
                f"datatrove {dt['pairs_found']:,}")
        variance = False
        if _ok(rec):  # misses within 2 standard deviations of a sum of Bernoullis (Poisson-like) around the expected
            mean, expected = sum(rec["missed_per_seed"]) / len(rec["missed_per_seed"]), rec["expected_missed"]
            variance = mean <= expected + 2 * expected ** 0.5 + 1
            line += (f"; over MinHash seeds 1-5 distill missed {rec['missed_per_seed']} (estimator variance alone "
                     f"predicts {expected}; datatrove {rec['datatrove_expected_missed']})")
        print(line + ": " + _met(ours["pairs_found"] >= dt["pairs_found"] or variance,
                                 "at least datatrove's, or within the estimator's variance"))


def _per_million(r: dict) -> str:
    return f"{r['cpu_seconds'] * 1e6 / r['rows']:.1f}"


def _load(r: dict) -> str:
    return "->".join(f"{v:.1f}" for v in r.get("load", []))


def _ok(r: dict | None) -> bool:
    return bool(r) and "error" not in r


def _met(cond, target: str) -> str:
    return f"{target}: {'met' if cond else 'NOT met'}"


def dataset(rows: int, dup_fraction: float, pairs: bool = False) -> Path:
    """A planted duplicate's source is in its own chunk, so the first rows of a set are a set too: the workers read
    `rows` rows of the file returned, which may be a larger set's."""
    cache = Path(tempfile.gettempdir()) / "distill-bench-dedupe"
    cache.mkdir(exist_ok=True)
    if rows % CHUNK == 0 and not pairs:  # a larger set's first rows are this set (the same chunks): read its head
        made = {int(p.name.split("-")[2]): p for p in cache.glob(f"prompts-v4-*-{dup_fraction}.json")}
        if any(n >= rows for n in made):
            return made[min(n for n in made if n >= rows)].with_suffix(".parquet")
    data = cache / f"prompts-v4-{rows}-{dup_fraction}.parquet"
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
    cpu = f" ({r['cpu_seconds']:.1f}s CPU, {_per_million(r)}/1M; load {_load(r)})" if "cpu_seconds" in r else ""
    cpu += f" [{r['kernel']} MinHash]" if "kernel" in r else ""
    print(f"  {method:15s} {n:>11,} rows: {r['seconds']:8.1f}s{cpu}  {r['rows'] / r['seconds']:>10,.0f} rows/s  "
          f"peak RSS {r['peak_rss_mb']:6.0f} MB  removed {r['removed']:>7,}{tail}")


if __name__ == "__main__":
    main()
