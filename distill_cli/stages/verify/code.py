"""Code answers: extract the final program, run it against the row's tests in the sandbox, score = fraction passed.

The `tests` column (DESIGN.md) takes three shapes: a list of statements run after the program (MBPP, HumanEval),
stdin/stdout cases (APPS, TACO, CodeContests), and function calls (TACO, LiveCodeBench). All of a row's tests run
in one sandboxed process, one result per test, which is many times faster than a process per test.
"""

from __future__ import annotations

import json

from distill_cli.stages.verify.config import Verdict, VerifyConfig
from distill_cli.stages.verify.extract import code_candidate, final_response
from distill_cli.stages.verify.sandbox import Limits, run_program

CODE = "code-sandbox"


class BadTests(ValueError):
    """The tests value is not one of the three supported shapes."""


def parse_tests(tests: str | None) -> tuple[dict, int]:
    """The harness spec (kind and cases) for a `tests` JSON string, and how many tests it holds."""
    if tests is None or not str(tests).strip():
        raise BadTests("no tests")
    try:
        value = json.loads(tests)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise BadTests(f"not JSON: {exc}") from None
    if isinstance(value, list) and value and all(isinstance(t, str) for t in value):
        return {"kind": "asserts", "tests": value}, len(value)
    if isinstance(value, dict) and isinstance(value.get("inputs"), list) and isinstance(value.get("outputs"), list):
        n = min(len(value["inputs"]), len(value["outputs"]))
        if n == 0:
            raise BadTests("no cases")
        if value.get("fn_name"):
            return {"kind": "calls", "fn_name": str(value["fn_name"]), "inputs": value["inputs"][:n],
                    "outputs": value["outputs"][:n]}, n
        return {"kind": "stdio", "inputs": value["inputs"][:n], "outputs": value["outputs"][:n]}, n
    raise BadTests("expected a list of test statements, {inputs, outputs} or {fn_name, inputs, outputs}")


def verify_code(response: str | None, tests: str | None, cfg: VerifyConfig) -> Verdict:
    try:
        spec, n = parse_tests(tests)
    except BadTests:
        return Verdict("unverifiable", 0.0, None, CODE, "tests_unparsable")
    text = final_response(response)
    program = code_candidate(text) if text else None
    if not program or not program.strip():
        return Verdict("no_answer", 0.0, None, CODE, "no_code_found")
    limits = Limits(wall=cfg.code_timeout, memory_mb=cfg.memory_mb, output_bytes=cfg.max_output_kb << 10,
                    mode=cfg.sandbox)
    run = run_program({**spec, "program": program}, n, limits)
    score = sum(run.passed) / n
    shown = program if len(program) <= 4000 else program[:4000] + "\n# ... (truncated)"
    if not run.started:
        return Verdict("error", 0.0, shown, CODE, f"sandbox_failed_rc{run.returncode}")
    if run.timed_out:
        return Verdict("timeout", score, shown, CODE, "code_timeout")
    if score == 1.0:
        return Verdict("correct", 1.0, shown, CODE)
    failed = next((r for ok, r in zip(run.passed, run.reasons, strict=False) if not ok and r), None)
    if not failed and not run.finished:
        failed = f"killed_signal{-run.returncode}" if run.returncode and run.returncode < 0 else "program_exited"
    return Verdict("incorrect", score, shown, CODE, failed or "tests_failed")
