"""Benchmark `distill grade` and `distill select --by difficulty` on synthetic verified rows (make bench-grade).

Writes N verified-like rows (default 10M: 1.25M prompts x 2 models x 4 samples, i.e. 8 samples per prompt) as
Parquet shards the way `distill verify` writes them (100k rows each, 50k-row row groups, zstd) to a temporary
directory, then times, each in its own process so peak RSS is that process's own, taking turns --repeat times:

  baseline   a hand-written polars group_by(id, model).agg(...) of the same statistics (lazy, streaming)
  copy       scan every row and write it back out, nothing else: the floor of any stage that, as DESIGN.md's
             graded contract says, writes every verified row and column again
  baseline+  the baseline's group_by joined back onto the rows and written out (grade's output, by hand)
  grade      `distill grade DATA -o GRADED -q`
  select     `distill select GRADED -o SELECTED --by difficulty --model teacher --distribution ... --per-prompt 1`

and prints the median wall time, rows/s, CPU time, peak RSS and the ratio of each to the baseline.
`--rows 1000000 --repeat 1` runs a quick check.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).parent))
from benchutil import median_run  # noqa: E402

MODELS = ("teacher", "student")
SAMPLES = 4  # per (prompt, model): 8 per prompt over the two models

BASELINE = """
import sys, polars as pl
s, t = pl.col("score"), pl.col("completion_tokens")
lf = pl.scan_parquet(sys.argv[1] + "/part-*.parquet")
stats = lf.group_by("id", "model").agg(pl.len().alias("n"), s.mean().alias("pass_rate"),
    s.std(ddof=0).alias("s_std"), t.mean().alias("len_mean"), t.std(ddof=0).alias("t_std"))
if sys.argv[2] == "join":
    out = lf.join(stats, on=["id", "model"], how="left").collect(engine="streaming")
    out.write_parquet(sys.argv[3] + "/out.parquet", compression="zstd")
elif sys.argv[2] == "copy":
    lf.sink_parquet(sys.argv[3] + "/copy.parquet", compression="zstd")
else:
    stats.collect(engine="streaming")
"""

MEASURE = """
import resource, subprocess, sys, time
t = time.perf_counter()
rc = subprocess.run(sys.argv[1:]).returncode
r = resource.getrusage(resource.RUSAGE_CHILDREN)
print(rc, time.perf_counter() - t, r.ru_utime + r.ru_stime, r.ru_maxrss)
"""


def generate(out: Path, rows: int, shards: int, seed: int = 0, text: int = 0) -> int:
    """Verified-like shards of whole prompts (each model's samples together), written as verify writes shards.

    `text` > 0 adds a `completion` column of that many characters per row, as real traces carry (zstd packs it
    small on disk; in memory it is its full size)."""
    rng = np.random.default_rng(seed)
    prompts = max(1, rows // (len(MODELS) * SAMPLES))
    ids = np.char.mod("%016x", rng.integers(0, 2**63 - 1, prompts, dtype=np.int64))
    bounds = np.linspace(0, prompts, shards + 1).astype(int)
    for k in range(shards):
        chunk = ids[bounds[k]:bounds[k + 1]]
        frames = []
        for model in MODELS:
            p = rng.beta(0.7, 0.7, size=(len(chunk), 1))
            score = (rng.random((len(chunk), SAMPLES)) < p).astype(np.float64).ravel()
            frames.append(pl.DataFrame({
                "id": np.repeat(chunk, SAMPLES),
                "model": model,
                "sample": np.tile(np.arange(SAMPLES), len(chunk)),
                "verdict": np.where(score > 0, "correct", "incorrect"),
                "score": score,
                "completion_tokens": rng.integers(200, 16_000, len(score)),
                "domain": "math",
            }))
            if text:
                frames[-1] = frames[-1].with_columns(
                    pl.format("{} {} ", "id", "sample").str.pad_end(text, "x").alias("completion"))
        pl.concat(frames).write_parquet(out / f"part-{k:05d}.parquet", compression="zstd", row_group_size=50_000)
    return prompts * len(MODELS) * SAMPLES


def measure(cmd: list[str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and peak RSS (GB) of one command, measured by a fresh parent so they are its own."""
    done = subprocess.run([sys.executable, "-c", MEASURE, *cmd], capture_output=True, text=True)
    last = done.stdout.strip().splitlines()[-1].split()
    if done.returncode != 0 or last[0] != "0":
        raise SystemExit(f"failed: {' '.join(cmd)}\n{done.stderr}")
    return float(last[1]), float(last[2]), int(last[3]) / 1e6  # ru_maxrss is in KiB on Linux


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--shards", type=int, default=0, help="Input shards (default: one per 100k rows).")
    ap.add_argument("--repeat", type=int, default=3, help="Runs of each command, taking turns; medians are shown.")
    ap.add_argument("--completion-chars", type=int, default=0,
                    help="Add a completion column of this many characters per row (memory with real traces).")
    ap.add_argument("--keep", action="store_true", help="Keep the temporary directory.")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_grade_"))
    try:
        run(tmp, args.rows, args.shards or max(1, args.rows // 100_000), args.repeat, args.completion_chars)
    finally:
        if args.keep:
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def run(tmp: Path, n_rows: int, shards: int, repeat: int, text: int) -> None:
    data = tmp / "verified"
    data.mkdir()
    started = time.perf_counter()
    rows = generate(data, n_rows, shards, text=text)
    print(f"generated {rows:,} rows in {shards} shards in {time.perf_counter() - started:.1f}s -> {data}")

    distill = [sys.executable, "-m", "distill_cli"]
    graded, selected = tmp / "graded", tmp / "selected"
    runs = {
        "baseline": [sys.executable, "-c", BASELINE, str(data), "agg", str(tmp)],
        "copy": [sys.executable, "-c", BASELINE, str(data), "copy", str(tmp)],
        "baseline+": [sys.executable, "-c", BASELINE, str(data), "join", str(tmp)],
        "grade": [*distill, "grade", str(data), "-o", str(graded), "-q", "--overwrite"],
        "select": [*distill, "select", str(graded), "-o", str(selected), "-q", "--overwrite", "--by", "difficulty",
                   "--model", "teacher", "--distribution", "hard=0.5,medium=0.3,easy=0.2", "--per-prompt", "1"],
    }
    seen: dict[str, list[tuple[float, float, float]]] = {name: [] for name in runs}
    for _ in range(repeat):
        for name, cmd in runs.items():
            seen[name].append(measure(cmd))
    results = {name: median_run(runs_of) for name, runs_of in seen.items()}
    base, base_cpu = results["baseline"][:2]
    print(f"\nmedian of {repeat} run(s) each, taking turns")
    print(f"{'step':<10} {'wall s':>7} {'rows/s':>11} {'x base':>7} {'CPU s':>7} {'x base':>7} {'peak RSS':>9}")
    for name, (secs, cpu, rss) in results.items():
        print(f"{name:<10} {secs:7.2f} {rows / secs:11,.0f} {secs / base:6.2f}x {cpu:7.2f} {cpu / base_cpu:6.2f}x "
              f"{rss:7.2f}GB")
    both = results["grade"][0] + results["select"][0]
    both_cpu = results["grade"][1] + results["select"][1]
    print(f"{'grade+sel':<10} {both:7.2f} {rows / both:11,.0f} {both / base:6.2f}x {both_cpu:7.2f} "
          f"{both_cpu / base_cpu:6.2f}x")
    copy, by_hand = results["copy"][0], results["baseline+"][0]
    print(f"grade+select / baseline: {both / base:.2f}x (target 1.5x). Writing the rows at all (copy) costs "
          f"{copy / base:.2f}x, so no grade that keeps DESIGN.md's graded contract gets under "
          f"{(base + copy) / base:.2f}x (aggregate + copy) before select. grade / baseline+: "
          f"{results['grade'][0] / by_hand:.2f}x")
    for stage, path in (("grade", graded), ("select", selected)):
        stats = json.loads((path / "_stats.json").read_text())
        print(f"{stage} rows out {stats['rows_out']:,}")
    sel = json.loads((selected / "_stats.json").read_text())
    print(f"select: difficulty_out {sel.get('difficulty_out')}, shortfall {sel.get('shortfall')}")
    print("note: process times include Python start-up and imports; the machine's 2 cores are shared, so compare "
          "ratios measured in this one run.")


if __name__ == "__main__":
    main()
