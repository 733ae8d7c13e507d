"""Benchmark `distill grade` and `distill select --by difficulty` on synthetic verified rows (make bench-grade).

Writes N verified-like rows (default 10M: 1.25M prompts x 2 models x 4 samples, i.e. 8 samples per prompt) as
Parquet shards the way `distill verify` writes them (100k rows each, 50k-row row groups, zstd) to a temporary
directory, then times, each in its own process so peak RSS is that process's own, taking turns --repeat times:

  aggregate  the bare group_by(id, model).agg(...) of grade's statistics (for reference)
  copy       scan every row and write it back out, nothing else: the floor of any stage that writes every row
  hand       grade + select written by hand in polars, in one process: group_by, join back, write the graded
             rows, then the same selection (teacher, correct, hard/medium, the shortest trace per prompt), written
  grade      `distill grade DATA -o GRADED -q`
  select     `distill select GRADED -o SELECTED -q --model teacher --keep hard,medium --per-prompt 1`

and prints the median wall time, rows/s, CPU time, peak RSS and the ratio of each to the hand-written pipeline
(issue 20's target: grade+select within 1.3x of it, peak RSS under 4 GB), then checks that both wrote the same
grade columns and selected the same rows.
`--rows 1000000 --repeat 1` runs a quick check.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))
from benchutil import median_run  # noqa: E402

from distill_cli.stagedir.inputs import open_input  # noqa: E402

MODELS = ("teacher", "student")
SAMPLES = 4  # per (prompt, model): 8 per prompt over the two models

SELECT = ["--model", "teacher", "--keep", "hard,medium", "--per-prompt", "1", "--prefer", "shortest"]

# grade + select written by hand in polars: the same output columns and the same selection, in one process
HAND = """
import sys, time, polars as pl
data, out, mode = sys.argv[1], sys.argv[2], sys.argv[3]
lf = pl.scan_parquet(data + "/part-*.parquet")
added = pl.read_parquet_schema(out + "/added.parquet")  # what distill's contract adds (absent optional columns)
lf = lf.with_columns(pl.lit(None, dtype).alias(name) for name, dtype in added.items())
ok = ~pl.col("verdict").is_in(["unverifiable"]).fill_null(False)
s = pl.when(ok).then(pl.col("score").cast(pl.Float64).fill_null(0.0))
t = pl.when(ok).then(pl.col("completion_tokens").cast(pl.Float64))
r = pl.col("pass_rate")
cv = lambda n, sd, m: pl.when((pl.col(n) >= 2) & (pl.col(m) != 0)).then(pl.col(sd) / pl.col(m))
band = (pl.when(r.is_null()).then(pl.lit("ungraded")).when(r <= 0).then(pl.lit("unsolved"))
        .when(r <= 0.3).then(pl.lit("hard")).when(r <= 0.7).then(pl.lit("medium")).when(r < 1).then(pl.lit("easy"))
        .otherwise(pl.lit("trivial")))
started = time.perf_counter()
if mode == "copy":
    lf.sink_parquet(out + "/copy.parquet", compression="zstd")
    sys.exit()
g = lf.group_by("id", "model").agg(s.count().cast(pl.Int64).alias("n_samples"), s.mean().alias("pass_rate"),
    s.std(ddof=0).alias("ss"), t.count().alias("tn"), t.mean().alias("len_mean"), t.std(ddof=0).alias("ts"))
g = g.select("id", "model", "n_samples", "pass_rate", cv("n_samples", "ss", "pass_rate").alias("score_cv"),
             "len_mean", cv("tn", "ts", "len_mean").alias("len_cv"), band.alias("difficulty"))
g = g.collect(engine="streaming")
if mode == "agg":
    sys.exit()
rate = pl.col("pass_rate")
per_model = [pl.when(pl.col("model") == m).then(rate).max().alias(f"pass_rate__{m}")
             for m in sorted(g.get_column("model").unique().drop_nulls())]
g.lazy().group_by("id").agg(*per_model, pl.col("n_samples").sum(), rate.mean().alias("pass_rate_mean")).sink_parquet(
    out + "/summary.parquet", compression="zstd")
agg = time.perf_counter()
lf.join(g.lazy(), on=["id", "model"], how="left", maintain_order="left").sink_parquet(
    out + "/graded.parquet", compression="zstd")
joined = time.perf_counter()
sel = (pl.scan_parquet(out + "/graded.parquet").with_row_index("_row")
       .filter(pl.col("model") == "teacher", pl.col("verdict") == "correct",
               pl.col("difficulty").is_in(["hard", "medium"]))
       .sort("completion_tokens", "_row").group_by("id", maintain_order=True).head(1).sort("_row").drop("_row"))
sel.sink_parquet(out + "/selected.parquet", compression="zstd")
done = time.perf_counter()
print(f"hand parts: group_by+summary {agg - started:.2f}s, join+write {joined - agg:.2f}s, "
      f"select+write {done - joined:.2f}s",
      file=sys.stderr)
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


NOTES: dict[str, str] = {}  # the last stderr line of each step (the hand pipeline's own breakdown)


def measure(name: str, cmd: list[str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and peak RSS (GB) of one command, measured by a fresh parent so they are its own."""
    done = subprocess.run([sys.executable, "-c", MEASURE, *cmd], capture_output=True, text=True)
    last = done.stdout.strip().splitlines()[-1].split()
    if done.returncode != 0 or last[0] != "0":
        raise SystemExit(f"failed: {' '.join(cmd)}\n{done.stderr}")
    NOTES[name] = (done.stderr.strip().splitlines() or [""])[-1]
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
    graded, selected, hand = tmp / "graded", tmp / "selected", tmp / "hand"
    hand.mkdir()
    added = {k: v for k, v in open_input(str(data)).schema.items() if k not in pl.read_parquet_schema(
        next(data.glob("*.parquet")))}  # the nullable contract columns distill writes: the hand pipeline must too
    pl.DataFrame(schema=added).write_parquet(hand / "added.parquet")
    runs = {
        "aggregate": [sys.executable, "-c", HAND, str(data), str(hand), "agg"],
        "copy": [sys.executable, "-c", HAND, str(data), str(hand), "copy"],
        "hand": [sys.executable, "-c", HAND, str(data), str(hand), "all"],
        "grade": [*distill, "grade", str(data), "-o", str(graded), "-q", "--overwrite"],
        "select": [*distill, "select", str(graded), "-o", str(selected), "-q", "--overwrite", *SELECT],
    }
    load_before = f"{os.getloadavg()[0]:.1f}"
    seen: dict[str, list[tuple[float, float, float]]] = {name: [] for name in runs}
    for _ in range(repeat):
        for name, cmd in runs.items():
            seen[name].append(measure(name, cmd))
    res = {name: median_run(runs_of) for name, runs_of in seen.items()}
    base, base_cpu = res["hand"][:2]
    print(f"\nmedian of {repeat} run(s) each, taking turns; ratios against the hand-written grade+select; "
          f"load average {load_before} before, {os.getloadavg()[0]:.1f} after")
    print(f"{'step':<12} {'wall s':>7} {'rows/s':>11} {'x hand':>7} {'CPU s':>7} {'x hand':>7} {'peak RSS':>9}")
    both = (res["grade"][0] + res["select"][0], res["grade"][1] + res["select"][1],
            max(res["grade"][2], res["select"][2]))
    for name, (secs, cpu, rss) in [*res.items(), ("grade+select", both)]:
        print(f"{name:<12} {secs:7.2f} {rows / secs:11,.0f} {secs / base:6.2f}x {cpu:7.2f} {cpu / base_cpu:6.2f}x "
              f"{rss:7.2f}GB")
    met = both[0] / base <= 1.3 and both[1] / base_cpu <= 1.3 and both[2] < 4
    print(f"\ndistill grade+select / hand-written polars: {both[0] / base:.2f}x wall, {both[1] / base_cpu:.2f}x CPU, "
          f"peak RSS {both[2]:.2f} GB (target: within 1.3x, under 4 GB: {'met' if met else 'NOT met'})")
    print(f"{NOTES['hand']}; copy (read + write every row, nothing else) {res['copy'][0]:.2f}s")
    for stage, path in (("grade", graded), ("select", selected)):
        stats = json.loads((path / "_stats.json").read_text())
        print(f"{stage}: rows out {stats['rows_out']:,}; {stage}'s own seconds (sum over shards) "
              f"{stats.get('seconds', 0):.2f}")
    same_output(graded, selected, hand)


def same_output(graded: Path, selected: Path, hand: Path) -> None:
    """The comparison is fair only if both write the same files with the same contents: every column of every
    graded row, the per-prompt summary, and every column of the selected rows (compared in key order)."""
    key = ["id", "model", "sample"]
    ours = pl.scan_parquet(graded / "part-*.parquet").sort(key).collect()
    theirs = pl.scan_parquet(hand / "graded.parquet").sort(key).collect()
    assert ours.height == theirs.height, (ours.height, theirs.height)
    assert ours.columns == theirs.columns, (ours.columns, theirs.columns)
    for c in ours.columns:
        assert _same(ours.get_column(c), theirs.get_column(c)), f"graded column {c} differs"
    mine, by_hand = pl.read_parquet(graded / "_summary.parquet").sort("id"), pl.read_parquet(
        hand / "summary.parquet").sort("id")
    assert mine.columns == by_hand.columns and mine.height == by_hand.height, (mine.columns, by_hand.columns)
    for c in mine.columns:
        assert _same(mine.get_column(c), by_hand.get_column(c)), f"summary column {c} differs"
    picked = pl.read_parquet(selected / "part-*.parquet").sort(key)
    chosen = pl.read_parquet(hand / "selected.parquet").sort(key)
    assert picked.equals(chosen), f"selected rows differ: {picked.height} vs {chosen.height}"
    print(f"same output: {ours.height:,} graded rows, {mine.height:,} summary rows and {picked.height:,} selected "
          "rows match, every column")


def _same(a: pl.Series, b: pl.Series) -> bool:
    same = (a == b) | (a.is_null() & b.is_null())
    if a.dtype == pl.Float64:
        same = same | ((a - b).abs() < 1e-9)
    return bool(same.all())


if __name__ == "__main__":
    main()
