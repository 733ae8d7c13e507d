"""Benchmark: peak RSS of every model-free stage on R1-style traces of ~8 KB, at two sizes side by side.

Synthetic traces (8 samples per prompt, a <think> part of ~8 KB with reflections, a boxed answer that is right
for about half the samples) are generated once, a chunk at a time, into --data (kept between runs: 1M traces are
1.3 GB of Parquet, 16 GB of text with `completion`; the smaller size links the larger one's first shards). Then the
real `distill` command runs grade -> select -> dedupe --exact, dedupe --near -> export, compress (on select's
output), then verify and filter on the traces, each in its own child process, and the child's peak RSS (ru_maxrss
of that child alone, via os.wait4) is printed per stage and size, with the growth ratio; beside it the largest
summed RSS of the child and its worker processes, sampled (verify's workers are processes of their own). Memory
bounded by a chunk means no stage over 4 GB at the larger size and none growing more than 1.3x. Each measurement
is saved in --data/results.json (with the commit measured) as soon as its stage ends: a run resumes at the stage it
was in, and one table at the end shows every stage at both sizes.

    python scripts/bench_memory.py                          # 100k and 1M traces (8 GB of reasoning at 1M)
    python scripts/bench_memory.py --again dedupe           # measure dedupe again, keep the other stages' numbers
    python scripts/bench_memory.py --skip-slow              # without verify and compress
    python scripts/bench_memory.py --sizes 20000 80000 --stages select compress dedupe --fresh
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchutil import run_measured, run_tree_usage, table  # noqa: E402

SHARD_ROWS = 50_000
# the global stages write shards of SHARD_ROWS rows, as the traces are: at both sizes a per-shard stage then holds
# shards of the same size, so its growth is with the input (at 100k select keeps 49,913 rows, one shard whatever
# --rows-per-shard; at 1M its default 100k-row shards would double a per-shard stage's memory)
SHARDS = ["--rows-per-shard", str(SHARD_ROWS)]
STAGES = {  # stage -> (command, its input stage, extra arguments); run in this order, the global stages first
    "grade": ("grade", "traces", []),  # the generated traces carry verify's columns: grade can start there
    "select": ("select", "grade", ["--by", "pass-rate", *SHARDS]),
    # dedupe reads select's output (rows as wide as compress's, less reasoning_original) so that it does not wait
    # for compress, the slowest stage here (~300 traces/s on 2 busy cores)
    "dedupe": ("dedupe", "select", ["--exact", *SHARDS]),
    "dedupe-near": ("dedupe", "select", ["--near", "0.8", *SHARDS]),
    "export": ("export", "dedupe", ["--format", "sft", "--allow-incorrect"]),
    "compress": ("compress", "select", ["-s", "trim", "--all"]),
    "verify": ("verify", "traces", ["--workers", "2"]),
    # the checks that run a model or scan n-grams cost ~10 ms a trace (hours at 1M on 2 cores); memory is per shard
    "filter": ("filter", "traces", ["--max-foreign-language", "off", "--max-repeated-share", "off",
                                    "--max-repeated-span", "off"]),
}
SLOW = ("verify", "compress")  # the stages that check answers trace by trace: the longest at 1M
CHUNK = 10_000  # traces generated and written at a time
SENTENCES = [f"Wait, let me check step {k}: the sum of {k} and {k + 3} is {2 * k + 3}, so the total so far holds."
             for k in range(300)] + [f"So we multiply {k} by two and get {2 * k}, which we carry forward." for k
                                     in range(300)]
AVERAGE = sum(map(len, SENTENCES)) // len(SENTENCES)


def make_traces(out: Path, rows: int, chars: int = 8000, seed: int = 0) -> None:
    """Shards of SHARD_ROWS traces, generated and written CHUNK rows at a time (1M traces of 8 KB are ~16 GB of
    text with `completion`; the generator holds one chunk). Every prompt has 8 samples; reasoning ~chars chars.
    Shard k is the same whatever `rows` is, so a smaller set is the first shards of a larger one."""
    import pyarrow.parquet as pq

    out.mkdir(parents=True, exist_ok=True)
    for shard, start in enumerate(range(0, rows, SHARD_ROWS)):
        path = out / f"part-{shard:05d}.parquet"
        if path.exists():
            continue
        tmp = path.with_suffix(".tmp")
        writer = None
        for first in range(start, min(start + SHARD_ROWS, rows), CHUNK):
            table = _chunk(first, min(CHUNK, rows - first), chars, seed + first).to_arrow()
            writer = writer or pq.ParquetWriter(tmp, table.schema, compression="zstd")
            writer.write_table(table, row_group_size=CHUNK)
        writer.close()
        tmp.rename(path)
    (out / ".complete").touch()


def _chunk(first: int, n: int, chars: int, seed: int):
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)
    row = np.arange(first, first + n)
    picks = rng.integers(0, len(SENTENCES), (n, chars // (1 + AVERAGE))).tolist()
    reasoning = [" ".join([SENTENCES[j] for j in p]) for p in picks]
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
    return df.with_columns(completion=pl.lit("<think>\n") + pl.col("reasoning") + pl.lit("\n</think>\n")
                           + pl.col("response"))


def traces_for(data: Path, rows: int) -> Path:
    """The traces of a size, generated once under `data` (in a child: a child's ru_maxrss starts from its parent's
    peak at fork, so the parent stays small); a smaller size links the first shards of a larger one's."""
    out = data / f"traces-{rows}"
    if (out / ".complete").exists():
        return out
    names = [f"part-{k:05d}.parquet" for k in range(rows // SHARD_ROWS)]
    larger = [p for p in data.glob("traces-*") if int(p.name[7:]) > rows and all((p / n).exists() for n in names)]
    if larger and rows % SHARD_ROWS == 0:
        out.mkdir(parents=True, exist_ok=True)
        for name in names:
            link = out / name
            if not link.exists():
                link.symlink_to(larger[0] / link.name)
        (out / ".complete").touch()
        return out
    run_measured([sys.executable, __file__, "--make", str(out), "--sizes", str(rows), "0"])
    return out


def run_size(data: Path, rows: int, stages: list[str], again: set[str], saved: dict) -> None:
    """Each stage of `stages` not yet in `saved` (or in `again`) run on `rows` traces, in its own child process;
    its (wall s, peak RSS MB, CPU s, peak RSS of it and its workers MB, code version) saved as soon as it ends, so
    an interrupted run resumes at the stage it was in. The outputs that other stages read are kept under
    data/out-ROWS (a re-measured stage reuses its input's); the others are removed once measured."""
    paths = {"traces": str(traces_for(data, rows) / "part-*.parquet")}
    done = saved.setdefault(str(rows), {})
    outs = data / f"out-{rows}"
    inputs = {source for _, source, _ in STAGES.values()}
    need = {s for s in stages if s not in done or s in again}
    for stage in reversed(STAGES):  # a stage needs its input stage's output (measured again if it is gone)
        source = STAGES[stage][1]
        if stage in need and source in STAGES and not (outs / source / ".measured").exists():
            need.add(source)
    for stage, (command, source, extra) in STAGES.items():
        if stage not in need:
            continue
        out = outs / (f"{stage}.jsonl" if command == "export" else stage)
        _remove(out)  # a stage's output left from before would make it resume, not run
        argv = [sys.executable, "-m", "distill_cli", command, str(outs / source) if source in STAGES
                else paths[source], "-o", str(out), *extra, "-q"]
        wall, rss, cpu, tree = run_tree_usage(argv)
        done[stage] = [wall, rss, cpu, tree, _version()]
        _save(data, saved)
        if stage in inputs:
            (out / ".measured").touch()
        else:  # with its side files (export's card and manifest)
            for path in [out, *outs.glob(f"{stage}.*"), *outs.glob(f".{stage}.*")]:
                _remove(path)
        print(f"  {rows:>9,} traces  {stage:11s} {wall:8.1f}s wall {cpu:8.1f}s CPU  peak RSS {rss:7.0f} MB "
              f"(with workers {tree:.0f} MB)  load {os.getloadavg()[0]:.1f}", flush=True)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def _version() -> str:
    """The commit of the code measured (with -dirty when it has uncommitted changes)."""
    repo = Path(__file__).resolve().parent.parent  # not an import of distill_cli: this process stays small
    try:
        return subprocess.run(["git", "-C", str(repo), "describe", "--always", "--dirty"], capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def _save(data: Path, saved: dict) -> None:
    tmp = data / "results.json.tmp"
    tmp.write_text(json.dumps(saved, indent=1))
    tmp.replace(data / "results.json")


def summary(saved: dict, small: int, large: int, stages: list[str]) -> str:
    """One table: each stage's peak RSS at both sizes, the growth, and the issue's two targets."""
    lines = []
    for stage in stages:
        a, b = saved.get(str(small), {}).get(stage), saved.get(str(large), {}).get(stage)
        if not (a and b):
            lines.append((stage, f"{a[1]:.0f}" if a else "-", f"{b[1]:.0f}" if b else "-", "-", "-", "-", "-", "-",
                          "-", "-", "-"))
            continue
        growth = b[1] / a[1]
        lines.append((stage, f"{a[1]:.0f}", f"{b[1]:.0f}", f"{growth:.2f}x", "YES" if b[1] > 4096 else "no",
                      "YES" if growth > 1.3 else "no", f"{a[3]:.0f} / {b[3]:.0f}", f"{a[2]:.0f} / {b[2]:.0f}",
                      f"{a[0]:.0f} / {b[0]:.0f}", a[4], b[4]))
    head = (f"peak RSS (MB) of each stage, {small:,} vs {large:,} traces of ~8 KB (target: none over 4096 MB at "
            f"{large:,}, none growing more than 1.3x):")
    return head + "\n" + table(lines, ("stage", f"{small:,}", f"{large:,}", "growth", "over 4 GB?", "growth>1.3x?",
                                        "+workers", "CPU s", "wall s", f"code@{small:,}", f"code@{large:,}"))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", type=int, nargs=2, default=[100_000, 1_000_000])
    ap.add_argument("--stages", nargs="+", default=list(STAGES), choices=list(STAGES))
    ap.add_argument("--again", nargs="+", default=[], choices=list(STAGES),
                    help="Measure these stages again at both sizes (the others keep their saved measurements).")
    ap.add_argument("--fresh", action="store_true", help="Forget every saved measurement (the traces are kept).")
    ap.add_argument("--skip-slow", action="store_true", help=f"Leave out {' and '.join(SLOW)}.")
    ap.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "distill-bench-memory",
                    help="Where the generated traces, the measurements (results.json) and the outputs other "
                    "stages read are kept between runs.")
    ap.add_argument("--make", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.make:
        make_traces(args.make, args.sizes[0])
        return
    if args.skip_slow:
        args.stages = [s for s in args.stages if s not in SLOW]
    args.data.mkdir(parents=True, exist_ok=True)
    results = args.data / "results.json"
    saved = json.loads(results.read_text()) if results.exists() and not args.fresh else {}
    for rows in sorted(args.sizes, reverse=True):  # the larger set first: the smaller one links its shards
        run_size(args.data, rows, args.stages, set(args.again), saved)
    print("\n" + summary(saved, *args.sizes, args.stages))


if __name__ == "__main__":
    main()
