"""Realistic sampled answers for consensus tests, made from real MATH-500 and GSM8K reference answers.

No real model samples are bundled, so each prompt gets a simulated model: a per-prompt skill (the chance a sample
is right), right answers written in the spellings models use (\\dfrac for \\frac, 18.0 for 18, $18), wrong answers
drawn from two or three per-prompt mistakes, one of them popular (models' wrong answers cluster), and a few samples
that never box an answer. Hard prompts therefore get wrong majorities, as they do with real models.
"""

from __future__ import annotations

import random

from verify_fixtures import jsonl

SKILLS = (0.05, 0.2, 0.35, 0.5, 0.65, 0.8, 0.95)


def _spellings(gold: str, rng: random.Random) -> str:
    choices = [gold]
    if "\\frac" in gold:
        choices.append(gold.replace("\\frac", "\\dfrac"))
    if gold.lstrip("-").isdigit():
        choices += [f"{gold}.0", f"\\${gold}" if not gold.startswith("-") else gold, f"{int(gold):,}"]
    return rng.choice(choices)


def _mistakes(gold: str, rng: random.Random) -> list[str]:
    if gold.lstrip("-").isdigit():
        g = int(gold)
        return [str(g + rng.choice((1, -1, 2))), str(2 * g + 1), str(g * 10)]
    return [f"{gold}+1", f"2\\left({gold}\\right)", f"{gold}-1"]


def prompts(n_math: int, n_gsm: int) -> list[tuple[str, str]]:
    math = [(f"math-{i}", r["answer"]) for i, r in enumerate(jsonl("math500_test.jsonl")[:n_math])]
    gsm = [(f"gsm-{i}", r["answer"].rsplit("####", 1)[1].strip().replace(",", ""))
           for i, r in enumerate(jsonl("gsm8k_test.jsonl")[:n_gsm])]
    return math + gsm


def samples(pairs: list[tuple[str, str]], n: int = 8, seed: int = 7) -> list[dict]:
    """Rows with id, sample, answer (the real reference), domain and a response ending in a boxed answer."""
    rng = random.Random(seed)
    rows = []
    for pid, gold in pairs:
        skill, wrong = rng.choice(SKILLS), _mistakes(gold, rng)
        for k in range(n):
            roll = rng.random()
            if roll < 0.05:
                final = "I could not finish the computation."
            elif rng.random() < skill:
                final = f"So the answer is $\\boxed{{{_spellings(gold, rng)}}}$."
            else:
                mistake = wrong[0] if rng.random() < 0.6 else rng.choice(wrong[1:])
                final = f"So the answer is $\\boxed{{{mistake}}}$."
            rows.append({"id": pid, "sample": k, "answer": gold, "domain": "math",
                         "response": f"<think>Working on it; maybe \\boxed{{{k}}}.</think>\nSteps...\n{final}"})
    return rows
