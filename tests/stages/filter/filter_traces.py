"""R1-style traces built from real MATH-500 problems and their reference solutions (the solution, unboxed, is the
thinking; the response states the boxed answer), with planted defects of the kinds `filter` exists to drop.

Each planted row carries the reason filter must give in its `planted` column; clean rows have a null there.
"""

from __future__ import annotations

import json
import re

import polars as pl
from support.cli import BENCHMARKS

OPENING = "Okay, let me work through this problem step by step."
CHECK = "Wait, let me double-check that computation before I commit to it. Going back over each step, it holds."
CHINESE = ("等等，让我重新检查一下这个计算。我们需要仔细考虑每一个步骤，确保没有遗漏任何条件。首先回到题目给出的条件，"
           "然后逐步推导。这样看来，前面的推理是正确的，所以我们可以继续计算最后的结果。")
SPANISH = [
    "Espera, voy a revisar este cálculo otra vez con mucho cuidado, porque quiero estar seguro de que cada paso "
    "es correcto antes de dar la respuesta final.",
    "Primero vuelvo a leer el enunciado del problema y compruebo que he usado todas las condiciones que nos dan, "
    "sin olvidar ninguna de ellas.",
    "Después repaso las operaciones una por una y confirmo que los resultados intermedios coinciden con lo que "
    "había obtenido antes, así que el razonamiento parece sólido.",
    "También conviene pensar si existe otro camino más corto para llegar al mismo resultado, por ejemplo "
    "empezando desde el final y trabajando hacia atrás hasta las condiciones iniciales.",
    "Ese otro camino lleva exactamente a la misma conclusión, lo cual me da bastante más confianza en que no "
    "he cometido ningún error de signo ni de aritmética por el camino.",
]
LOOP = ("Wait, let me recompute this part again from the beginning, because I want to make sure that the "
        "value I found is really consistent with every condition given in the problem statement.")


def math500(n: int) -> list[dict]:
    """n MATH-500 problems whose solutions are mostly prose (no diagrams), in file order."""
    rows = [json.loads(line) for line in (BENCHMARKS / "math500_test.jsonl").read_text().splitlines()]
    prose = [r for r in rows if "[asy]" not in r["solution"] and len(r["solution"].split()) > 60]
    return prose[:n]


def thinking(solution: str) -> list[str]:
    """The reference solution as the paragraphs of a thinking block, its \\boxed{} unwrapped."""
    body = re.sub(r"\\boxed\{", "{", solution)
    return [OPENING, *[p.strip() for p in body.split("\n\n") if p.strip()], CHECK]


def trace(item: dict, paras: list[str] | None = None, response: str | None = None, closed: bool = True,
          finish: str = "stop", planted: str | None = None, reasoning: bool = True) -> dict:
    paras = thinking(item["solution"]) if paras is None else paras
    response = f"Following the steps above.\n\nThe final answer is $\\boxed{{{item['answer']}}}$." \
        if response is None else response
    think = "\n\n".join(paras)
    if not reasoning:
        completion, think_col, resp = response, None, response
    elif closed:
        completion, think_col, resp = f"<think>\n{think}\n</think>\n\n{response}", think, response
    else:
        completion, think_col, resp = f"<think>\n{think}", think, ""
    return {"id": item["unique_id"], "prompt": item["problem"], "answer": item["answer"], "domain": "math",
            "model": "r1-style", "completion": completion, "reasoning": think_col, "response": resp,
            "finish_reason": finish, "planted": planted}


def planted_rows(items: list[dict]) -> list[dict]:
    """One trace per defect, from the problems given (at least 9)."""
    a, b, c, d, e, f, g, h, i = items[:9]
    pa = thinking(a["solution"])
    pb = thinking(b["solution"])
    pc = thinking(c["solution"])
    half = len(pc) // 2
    return [
        trace(a, paras=[*pa[:2], *[LOOP] * 12, *pa[2:]], planted="repetition"),
        trace(b, paras=[*pb[:len(pb) // 2], CHINESE, CHINESE, *pb[len(pb) // 2:]], planted="foreign_script"),
        trace(c, paras=[*pc[:half], *SPANISH, f"Entonces la respuesta final es {c['answer']}."],
              planted="foreign_language"),
        trace(d, closed=False, planted="think_unclosed"),
        trace(e, paras=thinking(e["solution"])[:3], closed=False, finish="length", planted="truncated"),
        trace(f, response=f"So we get $\\boxed{{{f['answer']}}}$.\n\nHmm, on reflection the result is "
              f"$\\boxed{{{f['answer']}1}}$.", planted="answers_disagree"),
        trace(g, response="I'm sorry, but I can't help with that request.", planted="refusal"),
        trace(h, response="Following the steps above.\n\nThe final answer is $\\boxed{\\frac{123}{457}}$.",
              planted="answer_unsupported"),
        trace(i, reasoning=False, planted="think_missing"),
    ]


def fixture_frame(clean: int = 12) -> pl.DataFrame:
    """`clean` clean traces and the planted ones, interleaved, each from a different MATH-500 problem."""
    items = math500(clean + 9)
    bad = planted_rows(items[:9])
    good = [trace(item) for item in items[9:]]
    rows = [r for pair in zip(good, bad, strict=False) for r in pair] + good[len(bad):]
    return pl.DataFrame(rows, schema_overrides={"planted": pl.String, "reasoning": pl.String})
