"""make bench-collect: `distill collect` on 1M synthetic GSM8K-style rows vs a bare polars read_ndjson + write_parquet.

Both run as fresh processes on the same file, taking turns, --repeat times each (a shared 2-core VM is noisy);
the table shows each one's median and the ratio is median collect / median bare. Target: within 2x.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from benchutil import median_run, run_measured, table  # noqa: E402

BARE = "import polars as pl, sys; pl.read_ndjson(sys.argv[1]).write_parquet(sys.argv[2], compression='zstd')"


def write_rows(path: Path, n: int) -> None:
    rng = random.Random(0)
    names = ["Janet", "Tom", "Aya", "Lee", "Maria", "Omar"]
    with open(path, "w") as fh:
        for i in range(n):
            a, b = rng.randint(2, 999), rng.randint(2, 999)
            q = (f"{rng.choice(names)} has {a} apples and buys {b} more bags with {i % 17 + 2} apples each. "
                 f"How many apples does {rng.choice(names)} have now? (problem {i})")
            total = a + b * (i % 17 + 2)
            sol = f"Bags hold {b}*{i % 17 + 2}=<<{b}*{i % 17 + 2}={b * (i % 17 + 2)}>> apples.\n#### {total}"
            fh.write(json.dumps({"question": q, "answer": sol, "level": i % 5, "source_id": f"syn-{i}"}) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "rows.jsonl"
        write_rows(src, args.rows)
        size = src.stat().st_size / 2**20
        bare, distill = [], []
        for i in range(args.repeat):
            bare.append(run_measured([sys.executable, "-c", BARE, str(src), f"{tmp}/bare.parquet"]))
            distill.append(run_measured(
                [sys.executable, "-m", "distill_cli", "collect", str(src), "-o", f"{tmp}/prompts-{i}", "-q"]))
    (bare_s, bare_mb), (distill_s, distill_mb) = median_run(bare), median_run(distill)
    rows = [("polars read_ndjson+write_parquet", f"{bare_s:.2f}", f"{args.rows / bare_s:,.0f}", f"{bare_mb:,.0f}"),
            ("distill collect", f"{distill_s:.2f}", f"{args.rows / distill_s:,.0f}", f"{distill_mb:,.0f}")]
    print(f"collect: {args.rows:,} rows, {size:.0f} MiB JSONL; median of {args.repeat} runs each, taking turns")
    print(table(rows, ("run", "seconds", "rows/s", "peak RSS MiB")))
    print(f"ratio collect/bare time: {distill_s / bare_s:.2f}x (target <= 2.0x)")


if __name__ == "__main__":
    main()
