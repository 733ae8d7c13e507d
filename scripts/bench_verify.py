"""bench-verify: verification throughput of the worker pool against a naive math-verify loop, side by side.

Builds ~4000 MATH-style responses from MATH-500 gold answers (half correct, half wrong, each with a decoy boxed
answer inside </think> reasoning), then times, in one run:
  naive:      one process, `math_verify.parse(gold)`, `parse(response)`, `verify(...)` per response (its default
              SIGALRM timeouts on, as a naive script would have them);
  pool:       `verify_frame` with --workers N (the same checks in killable workers with per-item deadlines).
The two alternate over slices of the rows so that load from other users hits them alike.
Also reports the worst per-item latency seen by the pool against the timeout, and sandboxed code executions per
second on MBPP reference solutions. The 2 cores are shared: numbers are noisy, the ratio is the fair figure.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from importlib.resources import files

import polars as pl

from distill_cli.stages.verify.core import VerifyConfig, verify_frame
from distill_cli.stages.verify.pool import VerifyPool

BENCH = files("distill_cli") / "benchmarks"


def math_rows(n: int) -> pl.DataFrame:
    golds = [json.loads(line)["answer"] for line in (BENCH / "math500_test.jsonl").read_text().splitlines()]
    responses, answers = [], []
    for i in range(n):
        gold = golds[i % len(golds)]
        final = gold if i % 2 == 0 else f"{gold}+{i % 7 + 1}"
        responses.append(f"<think>First guess: \\boxed{{{i}}}. Let me verify step by step.</think>\n"
                         f"Working through the algebra carefully, the final answer is $\\boxed{{{final}}}$.")
        answers.append(gold)
    return pl.DataFrame({"response": responses, "answer": answers, "domain": ["math"] * n})


def naive(df: pl.DataFrame) -> tuple[float, int]:
    from math_verify import parse, verify

    logging.getLogger("math_verify").setLevel(logging.CRITICAL)
    started, correct = time.perf_counter(), 0
    for response, answer in df.select("response", "answer").iter_rows():
        correct += bool(verify(parse(f"${answer}$"), parse(response.rsplit("</think>", 1)[1])))
    return time.perf_counter() - started, correct


def side_by_side(df: pl.DataFrame, cfg: VerifyConfig, rounds: int) -> dict:
    """Alternate the contenders over slices of the rows, so load from other users of the machine lands on
    all of them alike; times and correct counts are summed."""
    totals = {"naive": [0.0, 0, 0.0], "pool": [0.0, 0, 0.0]}
    size = -(-df.height // rounds)
    with VerifyPool(cfg) as pool:
        for start in range(0, df.height, size):
            part = df.slice(start, size)
            for name, run, run_args in (("naive", naive, (part,)), ("pool", _pooled, (part, cfg, pool))):
                _clear_math_verify_caches()  # each contender meets every response string cold
                cpu = _cpu_seconds(pool)
                seconds, correct = run(*run_args)
                totals[name][0] += seconds
                totals[name][1] += correct
                totals[name][2] += _cpu_seconds(pool) - cpu
        totals["max_latency"] = pool.max_latency
    return totals


def _cpu_seconds(pool: VerifyPool) -> float:
    """CPU time of this process and the pool's workers: what the work costs whatever else the machine runs."""
    import psutil

    own = sum(os.times()[:2])
    return own + sum(sum(psutil.Process(s.proc.pid).cpu_times()[:2]) for s in pool.slots)


def _clear_math_verify_caches() -> None:
    from math_verify.parser import parse_expr_cached, parse_latex_cached
    from sympy.core.cache import clear_cache

    parse_latex_cached.cache_clear()
    parse_expr_cached.cache_clear()
    clear_cache()  # sympy memoizes operations: without this, whoever runs second reuses the first one's work


def _pooled(df: pl.DataFrame, cfg: VerifyConfig, pool: VerifyPool) -> tuple[float, int]:
    started = time.perf_counter()
    out, _ = verify_frame(df, cfg, pool=pool)
    return time.perf_counter() - started, int((out["verdict"] == "correct").sum())


def code_rate(n: int, workers: int) -> tuple[float, int, int]:
    rows = json.loads((BENCH / "sanitized-mbpp.json").read_text())[:n]
    df = pl.DataFrame({
        "response": ["```python\n" + "\n".join(r["test_imports"] + [r["code"]]) + "\n```" for r in rows],
        "answer": [None] * len(rows), "domain": ["code"] * len(rows),
        "tests": [json.dumps(r["test_list"]) for r in rows]}, schema_overrides={"answer": pl.String})
    cfg = VerifyConfig(workers=workers, code_timeout=10.0)
    with VerifyPool(cfg) as pool:
        started = time.perf_counter()
        out, _ = verify_frame(df, cfg, pool=pool)
        elapsed = time.perf_counter() - started
    return elapsed, int((out["verdict"] == "correct").sum()), len(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=4000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--timeout", type=float, default=5.0)
    ap.add_argument("--code-rows", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=4)
    args = ap.parse_args()
    df = math_rows(args.rows)
    cfg = VerifyConfig(workers=args.workers, timeout=args.timeout)
    r = side_by_side(df, cfg, args.rounds)
    n = df.height
    print(f"math: {n} MATH-500-style responses (half correct), {args.rounds} interleaved rounds")
    for name, label in (("naive", "naive math-verify loop, 1 process"),
                        ("pool", f"verify_frame pool, {args.workers} workers")):
        seconds, correct, cpu = r[name]
        print(f"  {label:36}: {seconds:7.2f} s wall  {n / seconds:7.1f}/s  {cpu:7.2f} s CPU  correct={correct}")
    print(f"  speed-up pool vs naive, wall clock as measured: {r['naive'][0] / r['pool'][0]:.2f}x "
          "(target >= 1.7x on 2 cores)")
    ideal = max(r["pool"][2] / args.workers, 1e-9)
    print(f"  speed-up pool vs naive on {args.workers} idle cores (naive CPU / (pool CPU / workers)): "
          f"{r['naive'][2] / ideal:.2f}x")
    print(f"  max per-item latency in the pool: {r['max_latency']:.3f} s (timeout {args.timeout:.1f} s)")
    t_code, ok_code, n_code = code_rate(args.code_rows, args.workers)
    print(f"code: {n_code} MBPP reference solutions in the sandbox, {args.workers} workers: {t_code:.2f} s  "
          f"{n_code / t_code:.1f} executions/s  correct={ok_code}/{n_code}")


if __name__ == "__main__":
    main()
