"""make chaos: SIGKILL every stage at random (seeded) moments, resume, repeat; the result must equal a clean run.

For each stage of a real pipeline (collect -> generate through the openai backend against the fault-injecting
server -> verify -> grade -> select -> compress -> dedupe -> export), a reference output is made by one
uninterrupted run. Then, per trial, the same command runs into a fresh directory and is killed (the whole process
group, SIGKILL) after a random delay, again and again, until it finishes by itself. After every kill the directory
is checked as a reader would see it: every visible shard whole, a complete manifest only with every shard present.
The final rows are compared with the reference: lost keys, duplicated keys, and changed values; and no temp file
or directory of a killed writer may be left in or beside the finished output. Last, dedupe --near runs on 100k
prompts and is killed each time its MinHash band keys are on disk (kill_while_spilling), then resumed the same way.

    python scripts/chaos.py [--trials 5] [--max-kills 8] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from support import distill_env, fault_server  # noqa: E402

BENCH = ROOT / "distill_cli" / "benchmarks"


@dataclass(frozen=True)
class Stage:
    name: str
    args: tuple[str, ...]  # after `distill NAME IN -o OUT`
    input: str  # the stage whose output it reads ("" for collect)
    keys: tuple[str, ...]  # what identifies a row


def pipeline(base_url: str, prompts: int = 600) -> list[Stage]:
    """The stages; generate answers the first `prompts` collected prompts twice each."""
    return [
        Stage("collect", (str(BENCH / "gsm8k_test.jsonl"), str(BENCH / "math500_test.jsonl"), "--rows-per-shard",
                          "100"), "", ("id",)),
        Stage("generate", ("--backend", "openai", "--base-url", base_url, "--model", "fault-model", "-n", "2",
                           "--limit", str(prompts), "--rows-per-shard", "100", "--concurrency", "16",
                           "--checkpoint-every", "40", "--request-timeout", "5", "--max-retries", "20"),
              "collect", ("id", "sample")),
        Stage("verify", ("--workers", "2", "--rows-per-shard", "200"), "generate", ("id", "sample")),
        Stage("grade", (), "verify", ("id", "sample")),
        Stage("select", ("--by", "difficulty", "--all"), "grade", ("id", "sample")),
        Stage("compress", ("--strategy", "trim", "--all"), "select", ("id", "sample")),
        Stage("dedupe", ("--exact", "--near", "0.8"), "compress", ("id", "sample")),
        Stage("export", ("--format", "sft", "--allow-incorrect"), "dedupe", ("id", "sample")),
    ]


def command(stage: Stage, inp: Path | None, out: Path) -> list[str]:
    head = [sys.executable, "-m", "distill_cli", stage.name]
    if stage.name == "collect":
        return [*head, *stage.args[:2], "-o", str(out), *stage.args[2:], "-q"]
    return [*head, str(inp), "-o", str(out), *stage.args, "-q"]


def output_of(stage: Stage, directory: Path) -> Path:
    return directory / (f"{stage.name}.jsonl" if stage.name == "export" else stage.name)


def check_visible(out: Path) -> None:
    """What a reader may see after a kill: whole shards only; `complete` only with every shard there."""
    if out.suffix == ".jsonl":
        if out.exists():
            [json.loads(line) for line in out.read_text().splitlines()]
        return
    for shard in out.glob("part-*.parquet"):
        pl.read_parquet(shard)
    manifest = out / "_manifest.json"
    if manifest.exists():
        m = json.loads(manifest.read_text())
        if m["complete"]:
            assert len(list(out.glob("part-*.parquet"))) == m["n_shards"], f"{out}: complete without every shard"


def run_with_kills(argv: list[str], out: Path, rng: random.Random, stage: Stage, max_kills: int,
                   clean_seconds: float = 0.0) -> int:
    """Kill the run after random delays until it finishes; delays are drawn from the clean run's duration, the
    first near its middle, so every trial is killed at least once on a machine of any speed."""
    kills = 0
    while True:
        proc = subprocess.Popen(argv, start_new_session=True, env=distill_env(), stderr=subprocess.PIPE, text=True)
        share = rng.uniform(0.3, 0.7) if kills == 0 else rng.uniform(0.05, 0.95)
        try:
            _, err = proc.communicate(timeout=share * clean_seconds if kills < max_kills else 900)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            kills += 1
            check_visible(out)
            continue
        if proc.returncode != 0:
            raise SystemExit(f"{stage.name} failed after {kills} kills: {err.strip()[-500:]}")
        check_visible(out)
        left = leftovers(out)
        if left:
            raise SystemExit(f"{stage.name} finished after {kills} kills but left temp files: {left[:5]}")
        return kills


def leftovers(out: Path) -> list[str]:
    """Temp files or directories of killed writers still there once the run finished: they must all be gone."""
    beside = [p for p in out.parent.glob(f".{out.name}.*") if not p.name.endswith(".distill.json")]
    inside = list(out.rglob(".*.tmp-*")) + list(out.rglob(".*.old-*")) if out.is_dir() else []
    return sorted(str(p) for p in beside + inside)


def read_rows(out: Path) -> pl.DataFrame:
    if out.suffix == ".jsonl":
        return pl.read_ndjson(out)
    return pl.read_parquet(out / "part-*.parquet")


def compare(stage: Stage, got: pl.DataFrame, ref: pl.DataFrame) -> dict:
    keys = list(stage.keys)
    ref_keys = set(ref.select(keys).iter_rows())
    got_keys = set(got.select(keys).iter_rows())
    dup = got.height - got.unique(subset=keys).height
    rows = lambda df: sorted(json.dumps(r, sort_keys=True, default=str) for r in df.to_dicts())  # noqa: E731
    same = len(ref_keys ^ got_keys) == 0 and dup == 0 and rows(got) == rows(ref)
    return {"lost": len(ref_keys - got_keys), "extra": len(got_keys - ref_keys), "duplicated": dup,
            "values_equal": same}


def chaos(trials: int, max_kills: int, seed: int, stages: list[str] | None = None, quiet: bool = False,
          prompts: int = 600) -> list[dict]:
    rng = random.Random(seed)
    results = []
    with tempfile.TemporaryDirectory() as tmp, fault_server(
            rate_429=0.05, rate_500=0.05, rate_drop=0.03, seed=seed, max_lifetime=3600) as server:
        ref_dir = Path(tmp) / "ref"
        ref_dir.mkdir()
        for stage in pipeline(server.base_url, prompts):
            inp = output_of_stage(stage, ref_dir)
            ref_out = output_of(stage, ref_dir)
            started = time.perf_counter()
            run_with_kills(command(stage, inp, ref_out), ref_out, rng, stage, max_kills=0)
            clean_seconds = time.perf_counter() - started
            if stages and stage.name not in stages:
                continue
            ref = read_rows(ref_out)
            kills_total, outcome = 0, {"lost": 0, "extra": 0, "duplicated": 0, "values_equal": True}
            for trial in range(trials):
                out = output_of(stage, Path(tmp) / f"{stage.name}-{trial}")
                out.parent.mkdir(parents=True, exist_ok=True)
                kills_total += run_with_kills(command(stage, inp, out), out, rng, stage, max_kills, clean_seconds)
                got = compare(stage, read_rows(out), ref)
                for k in ("lost", "extra", "duplicated"):
                    outcome[k] += got[k]
                outcome["values_equal"] &= got["values_equal"]
            row = {"stage": stage.name, "trials": trials, "kills": kills_total, "rows": ref.height, **outcome}
            results.append(row)
            if not quiet:
                print(json.dumps(row), flush=True)
    return results


def near_dup_prompts(path: Path, rows: int, seed: int = 0) -> None:
    """Prompts of 30-60 random words, a tenth of them one-word edits of another: near duplicates to find."""
    import numpy as np

    rng = np.random.default_rng(seed)
    vocab = [f"w{k}" for k in range(5000)]
    base = [" ".join(vocab[j] for j in rng.integers(0, len(vocab), rng.integers(30, 61))) for _ in range(rows)]
    for i in rng.choice(rows, rows // 10, replace=False).tolist():
        words = base[int(rng.integers(0, rows))].split(" ")
        words[int(rng.integers(0, len(words)))] = "edited"
        base[i] = " ".join(words)
    pl.DataFrame({"id": [f"{i:08x}" for i in range(rows)], "prompt": base}).write_parquet(path)


def spilling(out: Path) -> bool:
    """Whether a dedupe --near run writing `out` has MinHash state on disk: a band file of its spill directory
    (a temp directory in the output, removed when the run ends) holds bytes."""
    return any(p.stat().st_size > 0 for p in out.glob("._minhash.tmp-*/band-*.u64") if p.exists())


def kill_while_spilling(work: Path, rows: int = 100_000, kills: int = 3, seed: int = 0) -> dict:
    """dedupe --near SIGKILLed `kills` times while its band keys are on disk, then run to the end: its rows and
    its list of removed rows must equal an uninterrupted run's, and no spill directory may be left behind."""
    data = work / "prompts.parquet"
    near_dup_prompts(data, rows, seed)
    stage = Stage("dedupe", ("--exact", "--near", "0.8", "--rows-per-shard", str(rows // 4)), "", ("id",))
    ref_out, out = work / "ref", work / "killed"
    run_with_kills(command(stage, data, ref_out), ref_out, random.Random(seed), stage, max_kills=0)
    done = 0
    while True:
        proc = subprocess.Popen(command(stage, data, out), start_new_session=True, env=distill_env(),
                                stderr=subprocess.PIPE, text=True)
        while done < kills and proc.poll() is None and not spilling(out):
            time.sleep(0.005)
        if done < kills and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            done += 1
            check_visible(out)
            continue
        _, err = proc.communicate()
        if proc.returncode != 0:
            raise SystemExit(f"dedupe failed after {done} kills while spilling: {err.strip()[-500:]}")
        break
    side = [pl.read_parquet(d / "_duplicates.parquet").sort("row") for d in (out, ref_out)]
    return {"stage": "dedupe (killed while spilling)", "trials": 1, "kills": done, "rows": rows,
            **compare(stage, read_rows(out), read_rows(ref_out)), "duplicates_equal": side[0].equals(side[1]),
            "removed": side[1].height, "leftovers": leftovers(out)}


def output_of_stage(stage: Stage, directory: Path) -> Path | None:
    if not stage.input:
        return None
    return directory / stage.input


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--max-kills", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stages", nargs="*", help="stage names to kill (default: all); dedupe-spill alone: only "
                        "dedupe --near killed while spilling")
    args = parser.parse_args()
    started = time.time()
    only_spill = args.stages == ["dedupe-spill"]  # just the kill_while_spilling scenario, no pipeline
    results = [] if only_spill else chaos(args.trials, args.max_kills, args.seed, args.stages)
    if not args.stages or {"dedupe", "dedupe-spill"} & set(args.stages):
        with tempfile.TemporaryDirectory() as tmp:
            spill = kill_while_spilling(Path(tmp), kills=args.max_kills, seed=args.seed)
        print(json.dumps(spill), flush=True)
        if spill["leftovers"] or not spill["duplicates_equal"]:
            spill["values_equal"] = False
        results.append({**spill, "stage": "dedupe-spill"})
    print(f"\n{'stage':<10}{'trials':>7}{'kills':>7}{'rows':>7}{'lost':>6}{'dup':>5}  values equal")
    for r in results:
        print(f"{r['stage']:<10}{r['trials']:>7}{r['kills']:>7}{r['rows']:>7}{r['lost']:>6}{r['duplicated']:>5}  "
              f"{r['values_equal']}")
    bad = [r for r in results if r["lost"] or r["extra"] or r["duplicated"] or not r["values_equal"]]
    print(f"total kills {sum(r['kills'] for r in results)}, lost {sum(r['lost'] for r in results)}, "
          f"duplicated {sum(r['duplicated'] for r in results)}, {time.time() - started:.0f}s")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
