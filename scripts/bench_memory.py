"""Benchmark: peak RSS of every model-free stage on R1-style traces of ~8 KB, at two sizes side by side.

Synthetic traces (8 samples per prompt, a <think> part of ~8 KB with reflections, a boxed answer that is right
for about half the samples) are written as Parquet shards; then the real `distill` command runs verify -> grade
-> select -> compress -> dedupe --exact -> export, each in its own child process, and the child's peak RSS
(ru_maxrss of that child alone, via os.wait4) is printed per stage and size, with the growth ratio. Memory
bounded by a chunk means no stage over 4 GB at the larger size and none growing more than 1.3x.

    python scripts/bench_memory.py                          # 100k and 1M traces (8 GB of text at 1M)
    python scripts/bench_memory.py --sizes 20000 80000 --stages select compress dedupe
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchutil import run_measured, table  # noqa: E402

STAGES = {  # stage -> (its input stage, extra arguments)
    "verify": ("traces", ["--workers", "2"]),
    "grade": ("verify", []),
    "select": ("grade", ["--by", "pass-rate"]),
    "compress": ("select", ["-s", "trim"]),
    "dedupe": ("compress", ["--exact"]),
    "export": ("dedupe", ["--format", "sft"]),
}
SHARD_ROWS = 50_000
SENTENCES = [f"Wait, let me check step {k}: the sum of {k} and {k + 3} is {2 * k + 3}, so the total so far holds."
             for k in range(300)] + [f"So we multiply {k} by two and get {2 * k}, which we carry forward." for k
                                     in range(300)]


def make_traces(out: Path, rows: int, chars: int = 8000, seed: int = 0) -> None:
    """Shards of `rows` traces; every prompt has 8 samples; reasoning ~chars characters."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)
    pool = np.array(SENTENCES)
    per_trace = chars // 90
    out.mkdir(parents=True)
    for shard, start in enumerate(range(0, rows, SHARD_ROWS)):
        n = min(SHARD_ROWS, rows - start)
        row = np.arange(start, start + n)
        picks = pool[rng.integers(0, len(pool), (n, per_trace))]
        reasoning = [" ".join(p) for p in picks]
        answer = (row // 8) % 97
        given = np.where(rng.random(n) < 0.5, answer, answer + 1)
        df = pl.DataFrame({
            "id": [f"{i // 8:016x}" for i in row], "prompt": [f"Problem {i // 8}: add the numbers." for i in row],
            "answer": answer.astype(str), "domain": "math", "source": "bench", "tests": None, "meta": None,
            "model": "m", "sample": (row % 8).astype(np.int64), "reasoning": reasoning,
            "response": [f"The answer is \\boxed{{{g}}}." for g in given.tolist()],
            "finish_reason": "stop", "prompt_tokens": 20, "completion_tokens": chars // 4, "gen_params": "{}",
            "seed": None,
        }, schema_overrides={"tests": pl.String, "meta": pl.String, "seed": pl.Int64})
        correct = given == answer  # verify's columns too, so a run without verify can start at grade
        df = df.with_columns(verdict=pl.Series(np.where(correct, "correct", "incorrect")),
                             score=pl.Series(correct.astype(float)), extracted=pl.Series(given.astype(str)),
                             verifier=pl.lit("math"))
        df = df.with_columns(completion=pl.lit("<think>\n") + pl.col("reasoning") + pl.lit("\n</think>\n")
                             + pl.col("response"))
        df.write_parquet(out / f"part-{shard:05d}.parquet", compression="zstd", row_group_size=10_000)


def run_size(root: Path, rows: int, stages: list[str]) -> dict[str, tuple[float, float]]:
    traces = root / "traces"
    # made in a child: a child's ru_maxrss starts from its parent's peak at fork, so the parent stays small
    run_measured([sys.executable, __file__, "--make", str(traces), "--sizes", str(rows), "0"])
    found: dict[str, tuple[float, float]] = {}
    paths = {"traces": str(traces / "part-*.parquet")}
    last = max(list(STAGES).index(s) for s in stages)
    if "verify" not in stages:
        paths["verify"] = paths["traces"]
    for stage, (source, extra) in list(STAGES.items())[:last + 1]:  # earlier stages make the later ones' input
        if stage == "verify" and "verify" not in stages:
            continue
        out = root / (f"{stage}.jsonl" if stage == "export" else stage)
        argv = [sys.executable, "-m", "distill_cli", stage, paths[source], "-o", str(out), *extra, "-q"]
        if stage == "compress":
            argv.append("--all")
        if stage == "export":
            argv.append("--allow-incorrect")
        found[stage] = run_measured(argv)
        paths[stage] = str(out)
        print(f"  {rows:>9,} traces  {stage:9s} {found[stage][0]:8.1f}s  peak RSS {found[stage][1]:7.0f} MB",
              flush=True)
    return {k: v for k, v in found.items() if k in stages}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs=2, default=[100_000, 1_000_000])
    ap.add_argument("--stages", nargs="+", default=list(STAGES), choices=list(STAGES))
    ap.add_argument("--make", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.make:
        make_traces(args.make, args.sizes[0])
        return
    results = {}
    for rows in args.sizes:
        with tempfile.TemporaryDirectory(prefix="distill-bench-memory-") as tmp:
            results[rows] = run_size(Path(tmp), rows, args.stages)
    small, large = args.sizes
    lines = []
    for stage in args.stages:
        a, b = results[small].get(stage), results[large].get(stage)
        if a and b:
            ok = b[1] < 4096 and b[1] / a[1] <= 1.3
            lines.append((stage, f"{a[1]:.0f}", f"{b[1]:.0f}", f"{b[1] / a[1]:.2f}x", f"{a[0]:.0f}", f"{b[0]:.0f}",
                          "met" if ok else "NOT met"))
    print(f"\npeak RSS (MB) of each stage, {small:,} vs {large:,} traces of ~8 KB (target: < 4096 MB at the "
          "larger size, growth <= 1.3x):")
    print(table(lines, ("stage", f"RSS@{small}", f"RSS@{large}", "growth", f"s@{small}", f"s@{large}", "target")))


if __name__ == "__main__":
    main()
