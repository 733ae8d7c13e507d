"""Code answers: extract the final program, run it against the row's tests in the sandbox, score = fraction passed.

The `tests` column (DESIGN.md) takes three shapes: a list of statements run after the program (MBPP, HumanEval),
stdin/stdout cases (APPS, TACO, CodeContests), and function calls (TACO, LiveCodeBench). All of a row's tests run
in one sandboxed process, one result per test, which is many times faster than a process per test. A C++ program
(stdin/stdout tests only) gets one sandbox too, which compiles it once and runs each test as its own process with
its own limits (native.py, session.py).
"""

from __future__ import annotations

import json
import shutil

from distill_cli.stages.verify.config import Verdict, VerifyConfig
from distill_cli.stages.verify.extract import code_block, final_response
from distill_cli.stages.verify.problem import Problem, checker_spec
from distill_cli.stages.verify.sandbox import ENV, Limits, resolve_mode, run_program

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


def program_wall(n_tests: int, time_limit: float | None, language: str, cfg: VerifyConfig) -> float:
    """The wall clock of a whole row: per-test limits add up (each test may take twice its CPU limit plus a second),
    plus compiling; without a per-test limit, `code_timeout` for the row (per test for C++)."""
    if time_limit is None:
        return cfg.code_timeout * (n_tests if language == "cpp" else 1)
    compile_s = 60.0 if language == "cpp" else 0.0
    return n_tests * (2 * time_limit + 1.5) + compile_s + 5.0


def item_deadline(tests: str | None, problem: Problem, cfg: VerifyConfig) -> float:
    """The pool's backstop for a code row, past every limit the sandbox enforces itself (either language)."""
    try:
        n = parse_tests(tests)[1]
    except BadTests:
        return cfg.item_deadline("code")
    return program_wall(n, problem.time_limit or cfg.time_limit, "cpp", cfg) + n * (2.0 + cfg.code_timeout) + 70.0


def verify_code(response: str | None, tests: str | None, cfg: VerifyConfig, problem: Problem | None = None) -> Verdict:
    problem = problem or Problem()
    try:
        spec, n = parse_tests(tests)
    except BadTests:
        return Verdict("unverifiable", 0.0, None, CODE, "tests_unparsable")
    text = final_response(response)
    language, program = code_block(text, problem.language) if text else (None, None)
    if not program or not program.strip():
        return Verdict("no_answer", 0.0, None, CODE, "no_code_found")
    refused = _refuse(language, spec["kind"], cfg, problem)
    if refused:
        return Verdict("unverifiable", 0.0, None, CODE, refused, language=language)
    checks = checker_spec(problem, cfg.checker) if spec["kind"] == "stdio" else {"checker": spec["kind"]}
    time_limit = problem.time_limit or cfg.time_limit
    memory = problem.memory_mb or cfg.memory_mb
    limits = Limits(wall=program_wall(n, time_limit, language, cfg), memory_mb=memory,
                    output_bytes=cfg.max_output_kb << 10, mode=cfg.sandbox,
                    cpu=(time_limit or cfg.code_timeout) if language == "cpp" else None)
    full = {**spec, **checks, "program": program, "language": language, "time_limit": time_limit,
            "stop": cfg.stop_on_first_failure}
    if cfg.sandbox_url:
        from distill_cli.stages.verify.remote import run_remote

        run = run_remote(full, n, limits, cfg.sandbox_url, cfg.sandbox_concurrency)
    else:
        run = run_program(full, n, limits)
    return _verdict(run, n, program, language, checks["checker"])


def _refuse(language: str | None, kind: str, cfg: VerifyConfig, problem: Problem) -> str | None:
    """Why this program cannot be judged here (a reason), or None."""
    if language not in ("python", "cpp"):
        return f"language_unsupported:{language}"
    if language == "cpp" and kind != "stdio":
        return "cpp_needs_stdio_tests"
    if cfg.sandbox_url:
        custom = checker_spec(problem, cfg.checker)["checker"] == "custom" and kind == "stdio"
        return "custom_checker_needs_local_sandbox" if custom else None
    # a C++ checker program is compiled and run like a C++ program, with the same needs
    cpp_checker = kind == "stdio" and checker_spec(problem, cfg.checker).get("checker_language") == "cpp"
    if language != "cpp" and not cpp_checker:
        return None
    what = "cpp" if language == "cpp" else "cpp_checker"
    if shutil.which("g++", path=ENV["PATH"]) is None:
        return f"{what}_needs_g++"
    if resolve_mode(cfg.sandbox) != "namespaces":
        # without namespaces only Python's audit hook stops writes and sockets; native code skips it
        return f"{what}_needs_namespaces_sandbox"
    return None


def _verdict(run, n: int, program: str, language: str, checker: str) -> Verdict:
    score = sum(run.passed) / n
    shown = program if len(program) <= 4000 else program[:4000] + "\n# ... (truncated)"
    extra = {"tests": tuple(run.status), "language": language, "checker": checker}
    if run.infra_error:
        return Verdict("error", 0.0, shown, CODE, run.infra_error.split(":")[0], **extra, detail=run.infra_error)
    if not run.started:
        return Verdict("error", 0.0, shown, CODE, f"sandbox_failed_rc{run.returncode}", **extra)
    if run.compile_error is not None:
        return Verdict("incorrect", 0.0, shown, CODE, "compile_error", **extra, detail=run.compile_error)
    if run.timed_out:
        return Verdict("timeout", score, shown, CODE, "code_timeout", **extra)
    if score == 1.0:
        return Verdict("correct", 1.0, shown, CODE, **extra)
    failed = next((r for ok, r in zip(run.passed, run.reasons, strict=False) if not ok and r), None)
    if not failed and not run.finished:
        failed = f"killed_signal{-run.returncode}" if run.returncode and run.returncode < 0 else "program_exited"
    return Verdict("incorrect", score, shown, CODE, failed or "tests_failed", **extra)
