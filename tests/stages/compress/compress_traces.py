"""R1-style traces written from the patterns of DeepSeek-R1 outputs, paragraph by paragraph, so tests can
assert exact cuts: a long <think> with "Wait," / "Let me double-check" / "Alternatively" paragraphs, and a
response that ends with a boxed answer."""

from __future__ import annotations

import json

import polars as pl

JANET = "Janet's ducks lay 16 eggs per day. She eats three for breakfast and bakes muffins with four. She sells " \
    "the remainder for $2 per egg. How much does she make every day?"

JANET_PARAS = [
    "Okay, so Janet's ducks lay 16 eggs per day. I need to find out how much money she makes at the market.",
    "Hmm.",
    "First, she eats 3 eggs for breakfast, and she uses 4 for muffins. So 3 + 4 = 7.",
    "That leaves 16 - 7 = 9.",
    "She sells each egg for $2, so 9 * 2 = 18.",
    "So she makes $18 every day.",
    "Wait, let me double-check. 16 minus 3 is 13, minus 4 is 9. 9 times 2 is 18. Yes.",
    "Alternatively, the total value of all eggs is 16 * 2 = 32 dollars, and the eggs she keeps are worth "
    "7 * 2 = 14 dollars, so 32 - 14 = 18.",
    "Hmm, let me verify once more: 9 eggs at $2 each is $18.",
    "Wait, did I read the problem right? She eats three and bakes with four, sells the remainder. Yes.",
    "So the answer is 18.",
]
JANET_RESPONSE = "Janet sells 16 - 3 - 4 = 9 eggs, at $2 each: 9 * 2 = 18.\n\nThe final answer is $\\boxed{18}$."

FRACTION = "If $f(x) = \\frac{3x-2}{x-2}$, what is the value of $f(-2) +f(-1)+f(0)$? Express your answer as a " \
    "common fraction."
FRACTION_PARAS = [
    "Okay, let's compute each value of f and add them up.",
    "f(-2) = (3(-2) - 2)/(-2 - 2) = (-8)/(-4) = 2.",
    "f(-1) = (3(-1) - 2)/(-1 - 2) = (-5)/(-3) = 5/3.",
    "f(0) = (0 - 2)/(0 - 2) = 1.",
    "Adding: 2 + 5/3 + 1 = 3 + 5/3 = \\frac{14}{3}.",
    "Wait, let me double-check f(-1). The numerator is 3(-1) - 2 = -5 and the denominator is -1 - 2 = -3, "
    "so f(-1) = 5/3. Right.",
    "Let me double-check the sum: 2 + 1 = 3 = 9/3, and 9/3 + 5/3 = 14/3.",
    "Let me double-check the sum: 2 + 1 = 3 = 9/3, and 9/3 + 5/3 = 14/3.",
    "Hmm, so the answer is $\\frac{14}{3}$.",
]
FRACTION_RESPONSE = "We get $f(-2) + f(-1) + f(0) = 2 + \\frac{5}{3} + 1 = \\boxed{\\frac{14}{3}}$."

# the model first reaches a wrong value, doubts it and corrects itself
DIVISORS = "How many positive whole-number divisors does 196 have?"
DIVISORS_PARAS = [
    "Okay, 196 = 14^2 = 2^2 * 7^2.",
    "The number of divisors is (2 + 1)(2 + 1). So the answer is 6.",
    "Wait, (2 + 1)(2 + 1) is 9, not 6. I multiplied wrong.",
    "So the answer is 9.",
    "Let me double-check by listing them: 1, 2, 4, 7, 14, 28, 49, 98, 196. That is 9 divisors.",
    "Hmm, yes, the answer is 9.",
]
DIVISORS_RESPONSE = "Since $196 = 2^2 \\cdot 7^2$, it has $(2+1)(2+1) = \\boxed{9}$ divisors."


def think(paras: list[str], response: str) -> str:
    return "<think>\n" + "\n\n".join(paras) + "\n</think>\n\n" + response


def row(paras: list[str], response: str, answer: str, prompt: str, verdict: str = "correct", domain: str = "math",
        sample: int = 0, **extra) -> dict:
    completion = think(paras, response)
    return {
        "id": f"p{abs(hash(prompt)) % 10**8:08d}", "prompt": prompt, "answer": answer, "domain": domain,
        "source": "tests", "tests": None, "meta": None, "model": "deepseek-r1", "sample": sample,
        "completion": completion, "reasoning": "\n\n".join(paras), "response": response, "finish_reason": "stop",
        "prompt_tokens": 60, "completion_tokens": len(completion) // 4, "gen_params": json.dumps({"n": 1}),
        "seed": 0, "verdict": verdict, "score": 1.0 if verdict == "correct" else 0.0, "extracted": None,
        "verifier": "math-verify", **extra,
    }


def janet(**kw) -> dict:
    return row(JANET_PARAS, JANET_RESPONSE, "18", JANET, **kw)


def fraction(**kw) -> dict:
    return row(FRACTION_PARAS, FRACTION_RESPONSE, "\\frac{14}{3}", FRACTION, **kw)


def divisors(**kw) -> dict:
    return row(DIVISORS_PARAS, DIVISORS_RESPONSE, "9", DIVISORS, **kw)


def frame(*rows: dict) -> pl.DataFrame:
    return pl.DataFrame(list(rows), infer_schema_length=None)


# reaches the answer, talks itself out of it, and comes back: a cut right after the wobble concludes wrongly
SUM = "What is 5 + 7?"
SUM_PARAS = [
    "Okay, this is a simple sum. Let me add: 5 + 7 = 12.",
    "Wait, I think I mis-added. Counting up from 7 by 5 gives 13, so the answer is 13.",
    "No, let me recount: 8, 9, 10, 11, 12. So 5 + 7 = 12 and the answer is 12.",
]
SUM_RESPONSE = "5 + 7 = \\boxed{12}"


def wobble(**kw) -> dict:
    return row(SUM_PARAS, SUM_RESPONSE, "12", SUM, **kw)
