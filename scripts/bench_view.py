"""Benchmark: `distill view` on a 1M-row stage: first-page latency and the server's memory, beside bare polars.

Builds a synthetic graded stage directory (R1-sized rows: a prompt, ~1.5 KB of random-word reasoning, a response,
the graded columns; 10 shards of 100k rows as a stage writes them), starts the real `distill view DIR --port 0`
process and times, from a client on loopback: the first page (the stage's HTML, then the rows API call it makes),
a filtered page, a sorted page, a free-text search, one prompt's trace page and the filter values. Each request is timed
cold (the first of its kind) and as the median of 3 warm repeats; the server's peak RSS (VmHWM) is read after
all of them. The baseline is bare polars in this process: scan the shards, filter, take 50 rows.
Targets (issue 21): first page < 1 s, RSS < 1 GB.

    python scripts/bench_view.py [--rows 1000000] [--reasoning-chars 1500] [--keep DIR]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import numpy as np
import polars as pl

from distill_cli.stagedir.directory import StageDir

VERDICTS = ("correct", "incorrect", "no_answer", "correct", "incorrect")
BANDS = ("unsolved", "hard", "medium", "easy", "trivial")
PIECES = 10  # reasoning = this many paragraphs drawn from a pool of random-word paragraphs


def paragraphs(count: int, chars: int, seed: int = 0) -> pl.Series:
    """Distinct paragraphs of random words from a 3k-word vocabulary: text that compresses like real traces (~3x
    with zstd), not a repeated string that compresses to nothing."""
    rng = np.random.default_rng(seed)
    vocab = pl.Series([f"w{i}" for i in range(3000)] + ["Wait,", "so", "we", "get", "$x^2+1$", "\\frac{1}{2}"])
    words = chars // 6
    picks = vocab.gather(rng.integers(0, len(vocab), count * words))
    return (pl.DataFrame({"w": picks, "p": np.repeat(np.arange(count), words)})
            .group_by("p", maintain_order=True).agg(pl.col("w").str.join(" "))["w"] + ".\n\n")


def make_stage(root: Path, rows: int, chars: int, per_shard: int = 100_000) -> Path:
    out = root / "graded"
    shards = -(-rows // per_shard)
    sd = StageDir(out, "grade", {"bench": True}, [], shards).open()
    pool = paragraphs(50_000, chars // PIECES)
    rng = np.random.default_rng(1)
    for i in range(shards):
        n = min(per_shard, rows - i * per_shard)
        idx = pl.int_range(i * per_shard, i * per_shard + n, eager=True, dtype=pl.Int64)
        pid = idx // 8
        s = idx.cast(pl.String)
        df = pl.DataFrame({
            "id": (pid * 2654435761 % (1 << 62)).cast(pl.String).str.zfill(16),
            "prompt": "Problem " + pid.cast(pl.String) + ": find the sum of the roots of $x^2 - " + s
            + "x + 1 = 0$. Give the answer in simplest form.",
            "answer": s, "domain": "math", "source": "bench", "model": ("teacher-" + (idx % 2).cast(pl.String)),
            "sample": (idx % 4),
            "reasoning": pl.DataFrame([pool.gather(rng.integers(0, len(pool), n)).alias(f"p{j}")
                                       for j in range(PIECES)]).select(pl.concat_str(pl.all())).to_series(),
            "response": "So the answer is $\\boxed{" + s + "}$.", "finish_reason": "stop",
            "completion_tokens": (idx * 7919 % 4000 + 100), "verdict": pl.Series(VERDICTS)[idx % 5],
            "score": (idx % 5 % 3 == 0).cast(pl.Float64), "extracted": s, "verifier": "math",
            "pass_rate": (pid % 9) / 8, "difficulty": pl.Series(BANDS)[pid % 5],
        })
        sd.write_shard(i, df, {"rows_in": n})
    assert sd.finish()
    return out


def fetch(url: str) -> tuple[float, int]:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as resp:
        size = len(resp.read())
        assert resp.status == 200, url
    return time.perf_counter() - started, size


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def baseline(stage: Path) -> float:
    """Bare polars: the first 50 incorrect rows and their count, from a lazy scan of the shards."""
    started = time.perf_counter()
    lf = pl.scan_parquet(str(stage / "part-*.parquet")).filter(pl.col("verdict") == "incorrect")
    pl.collect_all([lf.head(50), lf.select(pl.len())])
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--reasoning-chars", type=int, default=1500)
    ap.add_argument("--keep", type=Path, help="build the stage here and keep it (reused when it exists)")
    args = ap.parse_args()
    tmp = tempfile.TemporaryDirectory(prefix="bench-view-")
    root = args.keep or Path(tmp.name)
    started = time.perf_counter()
    stage = root / "graded" if (root / "graded" / "_manifest.json").exists() else \
        make_stage(root, args.rows, args.reasoning_chars)
    size = sum(f.stat().st_size for f in stage.glob("part-*.parquet")) / 2**20
    rows = pl.scan_parquet(str(stage / "part-*.parquet")).select(pl.len()).collect().item()
    print(f"stage: {rows:,} rows, {size:,.0f} MiB of Parquet ({time.perf_counter() - started:.1f} s to build)")

    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "distill_cli", "view", str(root), "--port", "0"],
                            stdout=subprocess.PIPE, text=True)
    try:
        url = proc.stdout.readline().split(" at ", 1)[1].split()[0].rstrip("/")
        startup = time.perf_counter() - t0
        pid = pl.scan_parquet(str(stage / "part-00003.parquet")).select("id").head(1).collect().item()
        api = f"{url}/api/stages/graded"
        requests = [
            ("stage page HTML", f"{url}/stages/graded"),
            ("rows API, first page (50)", f"{api}/rows?limit=50"),
            ("filtered: verdict=incorrect", f"{api}/rows?verdict=incorrect&limit=50"),
            ("filtered: model + pass-rate range", f"{api}/rows?model=teacher-1&pass_min=0.2&pass_max=0.6&limit=50"),
            ("sorted: -length, page 3", f"{api}/rows?sort=-length&offset=100&limit=50"),
            ("search q=\"Problem 12345:\"", f"{api}/rows?q=Problem%2012345:&limit=50"),
            ("trace page of one prompt", f"{url}/stages/graded/rows/{pid}"),
            ("filter values (facets)", f"{api}/facets"),
        ]
        results = []
        for name, link in requests:
            cold, nbytes = fetch(link)
            warm = statistics.median(fetch(link)[0] for _ in range(3))
            results.append((name, cold, warm, nbytes))
        rss = peak_rss_mib(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    base = statistics.median(baseline(stage) for _ in range(3))

    print(f"server start (process launch to URL printed): {startup:.2f} s")
    print(f"{'request':<36} {'cold s':>8} {'warm s':>8} {'bytes':>9}")
    for name, cold, warm, nbytes in results:
        print(f"{name:<36} {cold:8.3f} {warm:8.3f} {nbytes:9,}")
    first = results[0][1] + results[1][1]
    print(f"first page, cold (HTML + its rows call): {first:.3f} s  "
          f"(target < 1 s: {'met' if first < 1 else 'NOT met'})")
    print(f"server peak RSS: {rss:,.0f} MiB  (target < 1024 MiB: {'met' if rss < 1024 else 'NOT met'})")
    print(f"filtered page: distill view {results[2][2]:.3f} s warm vs bare polars scan+filter+head(50)+count "
          f"{base:.3f} s: {base / results[2][2]:.1f}x faster (it reads the filter column first, then 50 rows)")


if __name__ == "__main__":
    main()
