"""Benchmark `distill compress` strategies on R1-style traces (make bench-compress).

The traces are synthetic but built like DeepSeek-R1 outputs, deterministically (seeded) from the bundled MATH-500
and GSM8K problems and their gold answers: an opening, worked steps with intermediate "= X" results, the answer,
sometimes a wrong turn that is corrected ("So the answer is 7. ... Wait, that's not right") before or
after the answer, then post-answer
double-checks ("Wait, let me double-check", "Hmm", "Alternatively"), exact and near-exact repeats, and a final
restatement; the response ends with a boxed answer. One in ten is marked incorrect (passed through).

For each strategy (and a chain) it prints the reasoning reduction in characters and in tokens, the share of
attempted cuts that passed re-verification, the share of compressed traces whose reasoning still concludes with
the gold answer (of those whose original did) with and without re-verification, and the throughput in
traces/s, all measured side by side in one run (rewrite needs a model and is not benchmarked here).

    python scripts/bench_compress.py [--n 300] [--seed 0] [--workers 1]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from importlib import resources
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from distill_cli.answers import extract_gold  # noqa: E402
from distill_cli.stages.compress import CompressConfig, compress_frame  # noqa: E402
from distill_cli.stages.compress.budget import count_tokens  # noqa: E402
from distill_cli.stages.compress.check import VerifierEqual  # noqa: E402
from distill_cli.stages.compress.text import conclusion  # noqa: E402
from distill_cli.stages.verify.core import VerifyConfig  # noqa: E402

WORK = [
    "First, let me figure out what the problem is asking. {clause}",
    "Let me write down what we know. The key quantity works out to {a} + {b} = {s}.",
    "Next, I multiply: {a} * {c} = {p}.",
    "Then I need to combine these. Taking {p} and subtracting {b} gives {p} - {b} = {d}.",
    "Let me think about this more carefully. The relation between the parts suggests using the value {s}.",
    "So the structure of the problem reduces to a computation with {a} and {c}, which I have done above.",
]
RECHECK = [
    "Wait, let me double-check. Going through the steps again, every computation gives the same values, so the "
    "result {gold} stands.",
    "Hmm, let me verify once more by a different route. Plugging the result back in, it is consistent.",
    "Alternatively, I could approach it from the other direction, but that leads to the same value {gold}.",
    "Let me double-check the arithmetic: {a} + {b} = {s} and {a} * {c} = {p}. Yes, those are right.",
    "Wait, did I read the problem right? {clause} Yes, that is what I used.",
    "Hmm.",
    "Let me make sure there is no trick here. No, the problem is straightforward.",
]
STATE = ["So the answer is {gold}.", "Therefore the final answer is $\\boxed{{{gold}}}$.",
         "Putting it together, the result = {gold}."]


def problems(n: int, rng: random.Random) -> list[dict]:
    root = resources.files("distill_cli") / "benchmarks"
    math500 = [json.loads(x) for x in (root / "math500_test.jsonl").read_text().splitlines()]
    gsm8k = [json.loads(x) for x in (root / "gsm8k_test.jsonl").read_text().splitlines()]
    rows = [{"prompt": r["problem"], "answer": r["answer"], "level": r.get("level", 3)} for r in math500]
    rows += [{"prompt": r["question"], "answer": extract_gold(r["answer"], "gsm8k"), "level": 1} for r in gsm8k]
    rows = [r for r in rows if r["answer"] and "\n" not in r["answer"] and len(r["answer"]) <= 40]
    rng.shuffle(rows)
    return rows[:n]


def trace(p: dict, rng: random.Random) -> tuple[list[str], str]:
    a, b, c = rng.randint(2, 40), rng.randint(2, 40), rng.randint(2, 9)
    v = {"a": a, "b": b, "c": c, "s": a + b, "p": a * c, "d": a * c - b, "gold": p["answer"],
         "clause": p["prompt"].split(". ")[0][:160].rstrip(".") + "."}
    paras = [f"Okay, so I need to solve this problem. {v['clause']}"]
    paras += [t.format(**v) for t in rng.sample(WORK, rng.randint(2, 5))]
    if rng.random() < 0.15:  # a wrong turn, corrected
        paras += [f"So the answer is {a + b + c}.", "Wait, that's not right. I forgot one of the conditions; "
                  "let me redo the last step with it included."]
    paras.append(rng.choice(STATE).format(**v))
    checks = [t.format(**v) for t in rng.sample(RECHECK, rng.randint(1, 6))]
    if rng.random() < 0.4:  # an exact repeat
        checks.insert(rng.randint(0, len(checks)), checks[0])
    if rng.random() < 0.3:  # a near-exact repeat
        checks.append(checks[0].replace("again", "once more").replace("Yes,", "Yes, indeed,"))
    if rng.random() < 0.15:  # a late doubt: a wrong answer after the right one, then back to the right one
        wrong = a * c + b
        checks.insert(rng.randint(0, min(1, len(checks))), f"Wait, maybe I missed a case. If the second condition "
                      f"also applies, it becomes {a * c} + {b}, so the answer is {wrong}.")
        checks.insert(rng.randint(2, len(checks)) if len(checks) > 2 else len(checks),
                      f"No, the second condition cannot apply here. So the answer is {p['answer']} after all.")
    paras += checks
    if rng.random() < 0.7:
        paras.append(f"So the final answer is {p['answer']}.")
    response = f"Working through the steps above, the result follows.\n\nThe final answer is " \
        f"$\\boxed{{{p['answer']}}}$."
    return paras, response


def dataset(n: int, seed: int) -> pl.DataFrame:
    rng = random.Random(seed)
    rows = []
    for i, p in enumerate(problems(n, rng)):
        paras, response = trace(p, rng)
        reasoning = "\n\n".join(paras)
        completion = f"<think>\n{reasoning}\n</think>\n\n{response}"
        level = int(p["level"])
        rows.append({
            "id": f"b{i:05d}", "prompt": p["prompt"], "answer": p["answer"], "domain": "math", "sample": 0,
            "completion": completion, "reasoning": reasoning, "response": response,
            "completion_tokens": round(len(completion) / 3.6), "extracted": None,
            "verdict": "correct" if rng.random() < 0.9 else "incorrect",
            "difficulty": "easy" if level <= 2 else "medium" if level == 3 else "hard",
        })
    return pl.DataFrame(rows)


def tokenizer_dir() -> str | None:
    from distill_cli.model import is_built, tiny_model_dir

    return str(tiny_model_dir()) if is_built(tiny_model_dir()) else None


def concludes_correctly(df: pl.DataFrame, equal: VerifierEqual) -> list[bool]:
    items = [(conclusion(r), a, "math") for r, a in zip(df["reasoning"], df["answer"], strict=True)]
    return equal(items)


def run(name: str, df: pl.DataFrame, cfg: CompressConfig, equal: VerifierEqual, tok: str | None) -> dict:
    started = time.perf_counter()
    out, stats = compress_frame(df, cfg, equal=equal)
    seconds = time.perf_counter() - started
    eligible = out.filter(pl.col("verdict") == "correct")
    changed = eligible.filter(~pl.col("compression").is_in(["none"]) & ~pl.col("compression").str.starts_with(
        "reverted:"))
    before = count_tokens(eligible["reasoning_original"].to_list(), [None] * eligible.height,
                          [None] * eligible.height, tok)
    after = count_tokens(eligible["reasoning"].to_list(), [None] * eligible.height, [None] * eligible.height, tok)
    tried = sum(s.get("changed", 0) + s.get("reverted", 0) + s.get("dropped", 0)
                for s in stats.get("strategies", {}).values())
    kept = sum(s.get("changed", 0) for s in stats.get("strategies", {}).values())
    # of the compressed traces whose original reasoning concluded with the gold answer, how many still do
    was_ok = concludes_correctly(changed.with_columns(pl.col("reasoning_original").alias("reasoning")), equal)
    ok = [now for now, before in zip(concludes_correctly(changed, equal), was_ok, strict=True) if before]
    return {
        "strategy": name, "rows": df.height, "out": out.height,
        "char_red": 1 - stats["chars_after"] / stats["chars_before"] if stats["chars_before"] else 0.0,
        "tok_red": 1 - sum(after) / sum(before) if sum(before) else 0.0,
        "cuts_pass": kept / tried if tried else 1.0,
        "still_correct": sum(ok) / len(ok) if ok else 1.0,
        "traces_s": df.height / seconds,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    df = dataset(args.n, args.seed)
    tok = tokenizer_dir()
    budget = int(pl.Series(df["completion_tokens"]).median())
    cases = [
        ("trim", CompressConfig(strategies=("trim",))),
        ("dedupe-reflections", CompressConfig(strategies=("dedupe-reflections",))),
        ("first-correct", CompressConfig(strategies=("first-correct",))),
        ("first-correct +2 steps", CompressConfig(strategies=("first-correct",), extra_steps=2)),
        ("first-correct +2, no reverify", CompressConfig(strategies=("first-correct",), extra_steps=2,
                                                         reverify=False)),
        (f"max-tokens {budget} (drop)", CompressConfig(strategies=("max-tokens",), budget=budget)),
        ("trim+dedupe+first-correct", CompressConfig(strategies=("trim", "dedupe-reflections", "first-correct"))),
    ]
    eligible = int((df["verdict"] == "correct").sum())
    print(f"compress benchmark: {df.height} R1-style traces from MATH-500/GSM8K (seed {args.seed}), {eligible} "
          f"correct; tokens by {'the tiny model tokenizer' if tok else 'estimate (1.3/word)'}; "
          f"verifier workers {args.workers}")
    results = []
    for name, cfg in cases:
        # a fresh verifier per case (its workers cache parsed answers), started before the clock runs
        with VerifierEqual(VerifyConfig(workers=args.workers)) as equal:
            equal([("\\frac{1}{2}", "\\frac{1}{3}", "math")])
            results.append(run(name, df, cfg, equal, tok))
    header = f"{'strategy':32} {'rows out':>8} {'chars -%':>9} {'tokens -%':>9} {'cuts pass':>9} " \
             f"{'still ok':>9} {'traces/s':>9}"
    print(header)
    print("-" * len(header))
    for r in results:
        print(f"{r['strategy']:32} {r['out']:>8} {100 * r['char_red']:>8.1f}% {100 * r['tok_red']:>8.1f}% "
              f"{100 * r['cuts_pass']:>8.1f}% {100 * r['still_correct']:>8.1f}% {r['traces_s']:>9.0f}")
    print("chars/tokens -%: reasoning reduction over correct traces; cuts pass: attempted cuts that passed "
          "re-verification; still ok: compressed traces (whose original reasoning concluded with the gold answer) that "
          "still conclude with it.")


if __name__ == "__main__":
    main()
