"""A demo-size run of real graded traces for the viewer tests, built without a teacher engine.

Prompts are real (MATH-500 and GSM8K from distill_cli/benchmarks, through the real `collect`); responses are
written here in the shape a reasoning model gives (LaTeX in the reasoning, the answer in \\boxed{}, some wrong,
some cut off, one holding a <script> tag); then the real verify, grade, compress and dedupe commands run on
them, so verdicts, pass rates, compression and the dedupe side files are what distill itself produces.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import polars as pl
from stages.fake_run import write_stage
from support.cli import BENCHMARKS
from typer.testing import CliRunner

from distill_cli.cli import app
from distill_cli.stagedir.inputs import open_input

MODELS = ("teacher-a", "teacher-b")
SAMPLES = 3
SCRIPT = '<script>document.title="pwned"</script>'
LEADS = ("So the final answer is", "Therefore the answer is", "Hence the answer is", "The final answer is",
         "Thus we get", "In conclusion, the answer is")
NO_ANSWER = "I could not finish this one."  # the same in every cut-off trace: dedupe --on response clusters them


@dataclass
class ViewRun:
    root: Path
    graded: Path
    compressed: Path
    deduped: Path
    script_id: str  # the prompt whose teacher-a sample 1 response holds SCRIPT


def _cli(*args: str) -> None:
    res = CliRunner().invoke(app, [*args, "-q"])
    assert res.exit_code == 0, res.output


def _trace(prompt: dict, p: int, m: int, s: int) -> dict:
    """Sample s of model m on prompt p: correct for s < (p + m) % 3 + 1 ... then one wrong, one cut off."""
    n_good = (p + m) % SAMPLES
    kind = "good" if s < n_good else "wrong" if s < SAMPLES - 1 or n_good == SAMPLES - 1 else "cut"
    answer = prompt["answer"] if kind == "good" else str(-(100 * (p + 1) + 10 * m + s))
    reasoning = (f"Let $x$ be the unknown. We set up $x^2 + {p + 1}x = {s}$ and simplify step by step.\n\n"
                 f"From the problem, the quantity we need is $\\boxed{{{answer}}}$.\n\n"
                 "Wait, let me double-check that. Checking again, the value still holds.\n\n"
                 "Let me verify once more: yes, it is consistent.")
    if kind == "cut":
        response, finish, reasoning = NO_ANSWER, "length", reasoning.split("\n\n")[0]
    else:
        response, finish = f"{LEADS[m * SAMPLES + s]} $\\boxed{{{answer}}}$.", "stop"
    if (p, m, s) == (0, 0, 1):
        response = f"Careful: {SCRIPT} and then the answer is $\\boxed{{{answer}}}$."
    completion = f"<think>\n{reasoning}\n</think>\n\n{response}"
    return {**prompt, "model": MODELS[m], "sample": s, "completion": completion, "reasoning": reasoning,
            "response": response, "finish_reason": finish, "prompt_tokens": 60 + p,
            "completion_tokens": len(completion) // 4, "gen_params": json.dumps({"temperature": 0.6}), "seed": 7}


def make_view_run(root: Path) -> ViewRun:
    root.mkdir(parents=True, exist_ok=True)
    prompts = root / "prompts"
    math, gsm = BENCHMARKS / "math500_test.jsonl", BENCHMARKS / "gsm8k_test.jsonl"
    _cli("collect", str(math), "-o", str(prompts / "math"), "--limit", "6")
    _cli("collect", str(gsm), "-o", str(prompts / "gsm"), "--limit", "3")
    rows = pl.concat([open_input(str(prompts / k)).scan().collect() for k in ("math", "gsm")])
    traces = [_trace(prompt, p, m, s) for p, prompt in enumerate(rows.iter_rows(named=True))
              for m in range(len(MODELS)) for s in range(SAMPLES)]
    df = pl.DataFrame(traces)
    write_stage(root / "traces", "generate", df, {"model": ",".join(MODELS), "n": SAMPLES}, prompts / "math", 2)
    _cli("verify", str(root / "traces"), "-o", str(root / "verified"), "--workers", "2", "--timeout", "10")
    _cli("grade", str(root / "verified"), "-o", str(root / "graded"))
    _cli("compress", str(root / "graded"), "-o", str(root / "compressed"), "-s", "trim", "--all", "--workers", "2")
    _cli("dedupe", str(root / "compressed"), "-o", str(root / "deduped"), "--exact", "--on", "response",
         "--decontaminate", "gsm8k")
    return ViewRun(root, root / "graded", root / "compressed", root / "deduped", rows["id"][0])
