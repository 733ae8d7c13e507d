"""bench-verify: verification throughput of the worker pool against a naive math-verify loop, side by side.

Builds ~4000 MATH-style responses from MATH-500 gold answers (half correct, half wrong, each with a decoy boxed
answer inside </think> reasoning), then times, in one run:
  naive: one process, `math_verify.parse(gold)`, `parse(response)`, `verify(...)` per response (its default
         SIGALRM timeouts on, as a naive script would have them);
  pool:  `verify_frame` with --workers N (numeric fast path + math-verify, killable workers, per-item deadline).
Also reports the worst per-item latency seen by the pool against the timeout, and sandboxed code executions per
second on MBPP reference solutions. The 2 cores are shared: numbers are noisy, the ratio is the fair figure.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from importlib.resources import files

import polars as pl

from distill_cli.stages.verify import VerifyConfig, verify_frame
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


def pooled(df: pl.DataFrame, cfg: VerifyConfig) -> tuple[float, int, float]:
    """Time only the verification (a long run starts its workers once); the pool tracks per-item latency."""
    with VerifyPool(cfg) as pool:
        started = time.perf_counter()
        out, _ = verify_frame(df, cfg, pool=pool)
        elapsed = time.perf_counter() - started
        worst = pool.max_latency
    return elapsed, int((out["verdict"] == "correct").sum()), worst


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
    args = ap.parse_args()
    df = math_rows(args.rows)
    cfg = VerifyConfig(workers=args.workers, timeout=args.timeout)
    t_naive, ok_naive = naive(df)
    t_pool, ok_pool, worst = pooled(df, cfg)
    print(f"math: {df.height} responses (half correct)")
    print(f"  naive math-verify loop, 1 process : {t_naive:7.2f} s  {df.height / t_naive:7.1f}/s  correct={ok_naive}")
    print(f"  verify_frame pool, {args.workers} workers      : {t_pool:7.2f} s  {df.height / t_pool:7.1f}/s  "
          f"correct={ok_pool}")
    print(f"  speed-up: {t_naive / t_pool:.2f}x (target >= 1.7x on 2 cores)")
    print(f"  max per-item latency: {worst:.3f} s (timeout {args.timeout:.1f} s)")
    t_code, ok_code, n_code = code_rate(args.code_rows, args.workers)
    print(f"code: {n_code} MBPP reference solutions in the sandbox, {args.workers} workers: {t_code:.2f} s  "
          f"{n_code / t_code:.1f} executions/s  correct={ok_code}/{n_code}")


if __name__ == "__main__":
    main()
