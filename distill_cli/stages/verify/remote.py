"""Run programs on a SandboxFusion-compatible HTTP service (`--sandbox-url`), so no untrusted code runs here.

The service's `POST /run_code` takes {code, language, stdin, compile_timeout, run_timeout, memory_limit_MB} and
answers {status, compile_result, run_result}, each result {status: Finished|TimeLimitExceeded|Error, return_code,
stdout, stderr}. Stdin/stdout tests (Python or C++) are one request per test, `concurrency` at a time, judged here
by the same checkers as local runs; the service compiles C++ per request (its API has no compile-once). Python
assert/call tests are one request running the harness itself, which prints its result lines to stdout.

A request that fails for the service's reasons (connection refused, HTTP 5xx, `SandboxError`, a malformed answer)
is retried `retries` times with backoff; if it still fails the row is `error` (`sandbox_unavailable`), never a
verdict about the program.
"""

from __future__ import annotations

import base64
import json
import marshal
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from distill_cli.stages.verify.checkers import CHECKERS
from distill_cli.stages.verify.sandbox import HARNESS, Limits, RunResult, _collect

COMPILE_SECONDS = 60.0


class Unavailable(Exception):
    """The sandbox service did not give a usable answer after all retries."""


def _post(url: str, body: dict, timeout: float, retries: int) -> dict:
    data = json.dumps(body).encode()
    last = ""
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(min(8.0, 0.25 * 2 ** attempt))
        try:
            req = urllib.request.Request(url.rstrip("/") + "/run_code", data=data,
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                answer = json.loads(resp.read())
            if not isinstance(answer, dict) or answer.get("status") == "SandboxError":
                last = f"sandbox error: {str(answer)[:200]}"
                continue
            return answer
        except urllib.error.HTTPError as exc:
            last = f"HTTP {exc.code}"
            if exc.code < 500 and exc.code != 429:
                break
        except (OSError, ValueError) as exc:  # refused, reset, timed out, not JSON
            last = type(exc).__name__
    raise Unavailable(last)


def _status(answer: dict) -> tuple[str, str]:
    """(state, stdout or reason) of one run: ok, compile_error, timeout or crash."""
    compiled = answer.get("compile_result") or {}
    if compiled and (compiled.get("status") != "Finished" or compiled.get("return_code") not in (0, None)):
        return "compile_error", str(compiled.get("stderr") or compiled.get("stdout") or "")[:2000]
    run = answer.get("run_result") or {}
    if run.get("status") == "TimeLimitExceeded":
        return "timeout", "test_timeout"
    if run.get("status") != "Finished" or run.get("return_code") != 0:
        return "crash", f"exit{run.get('return_code')}"
    return "ok", str(run.get("stdout") or "")


def run_remote(spec: dict, n: int, limits: Limits, url: str, concurrency: int = 4, retries: int = 3) -> RunResult:
    try:
        if spec["kind"] == "stdio":
            return _stdio(spec, n, limits, url, concurrency, retries)
        return _harness(spec, n, limits, url, retries)
    except Unavailable as exc:
        result = RunResult(passed=[False] * n, status=["skipped"] * n, reasons=[""] * n)
        result.infra_error = f"sandbox_unavailable:{exc}"
        return result


def _stdio(spec: dict, n: int, limits: Limits, url: str, concurrency: int, retries: int) -> RunResult:
    tl = spec.get("time_limit")
    run_timeout = (2 * tl + 1) if tl else limits.wall
    check = CHECKERS[spec.get("checker") or "tokens"]

    def one(i: int) -> tuple[str, str]:
        given = spec["inputs"][i]
        body = {"code": spec["program"], "language": spec["language"], "run_timeout": run_timeout,
                "compile_timeout": COMPILE_SECONDS, "memory_limit_MB": limits.memory_mb,
                "stdin": "\n".join(map(str, given)) if isinstance(given, list) else str(given)}
        state, got = _status(_post(url, body, run_timeout + COMPILE_SECONDS + 30, retries))
        if state == "ok":
            return ("pass", "") if check(got, spec["outputs"][i]) else ("fail", "wrong_output")
        return state, got

    with ThreadPoolExecutor(max(1, concurrency)) as pool:
        outcomes = list(pool.map(one, range(n)))
    result = RunResult(passed=[], started=True, finished=True)
    compile_error = next((why for state, why in outcomes if state == "compile_error"), None)
    if compile_error is not None:
        result.compile_error = compile_error or "compile error"
        outcomes = [("skipped", "compile_error")] * n
    elif spec.get("stop"):
        first = next((i for i, (state, _) in enumerate(outcomes) if state != "pass"), n)
        outcomes = outcomes[:first + 1] + [("skipped", "")] * (n - first - 1)
    result.status = [state for state, _ in outcomes]
    result.reasons = [why for _, why in outcomes]
    result.passed = [s == "pass" for s in result.status]
    return result


def _harness(spec: dict, n: int, limits: Limits, url: str, retries: int) -> RunResult:
    """Python assert/call tests: the harness and its spec as one program; its result lines come back on stdout."""
    blob = base64.b64encode(marshal.dumps({**spec, "results": "/dev/stdout", "output_cap": limits.output_bytes}))
    main = HARNESS.replace('if __name__ == "__main__":\n    main()', "")
    code = (main + "\nimport base64 as _b64\nwith open('spec.bin', 'wb') as _fh:\n"
            f"    _fh.write(_b64.b64decode({blob.decode()!r}))\nsys.argv = ['harness', 'spec.bin']\nmain()\n")
    body = {"code": code, "language": "python", "run_timeout": limits.wall, "memory_limit_MB": limits.memory_mb,
            "stdin": ""}
    answer = _post(url, body, limits.wall + 30, retries)
    run = answer.get("run_result") or {}
    result = RunResult(passed=[], timed_out=run.get("status") == "TimeLimitExceeded",
                       returncode=run.get("return_code"))
    return _collect_text(str(run.get("stdout") or ""), n, result)


def _collect_text(stdout: str, n: int, result: RunResult) -> RunResult:
    """Parse result lines from text, as `_collect` does from the local results file."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        lines = [line for line in stdout.splitlines() if line in ("start", "end") or "\t" in line]
        (Path(tmp) / "results.txt").write_text("\n".join(lines) + "\n")
        return _collect(Path(tmp), n, result)
