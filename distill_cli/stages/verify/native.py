"""C++ programs and custom checker programs: compiled once, then run once per test, each run sandboxed.

A C++ program is compiled with `g++ -O2` once per row (not per test) inside the sandbox (its own uid, no network,
a private /tmp); a compile error fails every test and is kept as the row's `code_error`. Each test then runs the
binary as a fresh sandboxed process with the row's limits: CPU `time_limit` (measured from the child's rusage), a
wall clock of twice that plus a second (a program that sleeps), `memory_limit` as its address space. The parent,
not the sandboxed process, decides each test, so a program cannot forge its results.

Custom checkers follow the testlib convention: `checker INPUT OUTPUT ANSWER`, exit status 0 means accepted.
"""

from __future__ import annotations

import os
import resource
import signal
from pathlib import Path

from distill_cli.stages.verify.checkers import CHECKERS
from distill_cli.stages.verify.sandbox import Limits, RunResult, _execute, _python, _sweep

COMPILE = ["/usr/bin/g++", "-O2", "-std=gnu++17", "-pipe"]
COMPILE_SECONDS = 60.0
CHECK_SECONDS = 10.0


def _text(value) -> str:
    return "\n".join(str(x) for x in value) if isinstance(value, list) else str(value)


def compile_cpp(source: str, name: str, limits: Limits, work: Path, mode: str, uid: int) -> str | None:
    """Compile `source` to `work/name`; None on success, else the compiler's message (the reason kept)."""
    (work / f"{name}.cpp").write_text(source)
    build = Limits(wall=COMPILE_SECONDS, memory_mb=max(2048, limits.memory_mb), output_bytes=64 << 20,
                   mode=mode, nproc=16, python=False)
    with open(work / f"{name}.log", "wb") as log:
        run = _execute(work, log, log, build, mode, uid, argv=COMPILE + ["-o", name, f"{name}.cpp"])
    if run.timed_out:
        return f"compile timed out after {COMPILE_SECONDS:.0f} s"
    if run.returncode != 0 or not (work / name).exists():
        message = (work / f"{name}.log").read_bytes()[:2000].decode(errors="replace").strip()
        return message or f"g++ exited with {run.returncode}"
    return None


def _run_test(argv: list[str], given: str, limits: Limits, work: Path, mode: str, uid: int) -> tuple[str, str]:
    """One sandboxed run with `given` on stdin: (status so far, stdout or the reason)."""
    for stale in ("in.txt", "out.txt"):  # fresh inodes: a leftover of the last test holds only the old ones
        (work / stale).unlink(missing_ok=True)
    (work / "in.txt").write_text(given)
    tl = limits.cpu or limits.wall
    each = Limits(wall=2 * tl + 1, memory_mb=limits.memory_mb, output_bytes=limits.output_bytes, mode=mode, cpu=tl,
                  python=argv[0] != _python()[0])
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(work / "in.txt", "rb") as stdin, open(work / "out.txt", "wb") as out, \
            open(os.devnull, "wb") as err:
        run = _execute(work, out, err, each, mode, uid, argv=argv, stdin=stdin, sweep=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    if run.timed_out or cpu > tl or run.returncode == -signal.SIGXCPU:
        return "timeout", "test_timeout"
    if run.returncode != 0:
        rc = run.returncode or 0
        return "crash", f"killed_signal{-rc}" if rc < 0 else f"exit{rc}"
    with open(work / "out.txt", "rb") as fh:
        return "ok", fh.read(limits.output_bytes).decode(errors="replace")


def run_cpp(spec: dict, n: int, limits: Limits, work: Path, mode: str, uid: int) -> RunResult:
    """Compile once, run every test (stopping early if asked), judge each output here in the parent."""
    if mode == "namespaces":
        os.chown(work, uid, uid)
    result = RunResult(passed=[False] * n, started=True, status=["skipped"] * n, reasons=[""] * n)
    result.compile_error = compile_cpp(spec["program"], "prog", limits, work, mode, uid)
    if result.compile_error is not None:
        result.reasons = ["compile_error"] * n
        result.finished = True
        return result
    checker = _Checker(spec, limits, work, mode, uid)
    try:
        for i, (given, want) in enumerate(zip(spec["inputs"], spec["outputs"], strict=False)):
            state, got = _run_test(["./prog"], _text(given), limits, work, mode, uid)
            if state == "ok":
                state, got = checker.check(given, got, want)
            result.status[i], result.reasons[i] = state, "" if state == "pass" else got if state != "fail" else \
                "wrong_output"
            if spec.get("stop") and state != "pass":
                break
    finally:
        if mode == "namespaces":  # leftovers of any test (a daemon that left the process group) die here
            _sweep(uid)
    result.passed = [s == "pass" for s in result.status]
    result.finished = True
    return result


class _Checker:
    """A built-in checker by name, or the row's checker program (compiled once when it is C++).

    The checker lives in `judge/`, a directory the program's uid cannot write once the checker is built, so a
    program cannot replace the checker between two tests.
    """

    def __init__(self, spec: dict, limits: Limits, work: Path, mode: str, uid: int):
        self.name, self.mode, self.uid, self.limits = spec.get("checker") or "tokens", mode, uid, limits
        self.work = work / "judge"
        self.argv: list[str] = []
        self.error: str | None = None
        if self.name == "custom":
            self.work.mkdir()
            self.error = self._build(spec["checker_program"], spec.get("checker_language") == "cpp")

    def _build(self, source: str, cpp: bool) -> str | None:
        if not cpp:
            (self.work / "checker.py").write_text(source)
            self.argv = [_python()[0], "-I", "-S", "checker.py"]
            return None
        if self.mode == "namespaces":
            os.chown(self.work, self.uid, self.uid)
        error = compile_cpp(source, "checker", self.limits, self.work, self.mode, self.uid)
        if self.mode == "namespaces":
            for path in [self.work, *self.work.iterdir()]:
                os.chown(path, 0, 0)
        self.argv = ["./checker"]
        return error

    def check(self, given, got: str, want) -> tuple[str, str]:
        if self.name != "custom":
            return ("pass", "") if CHECKERS[self.name](got, want) else ("fail", "wrong_output")
        if self.error is not None:
            return "crash", "checker_compile_error"
        if self.mode == "namespaces":  # no leftover of the program may share the checker's uid while it runs
            _sweep(self.uid)
        (self.work / "answer.txt").write_text(_text(want))
        (self.work / "output.txt").write_text(got)
        (self.work / "input.txt").write_text(_text(given))
        verdict = Limits(wall=CHECK_SECONDS, memory_mb=max(1024, self.limits.memory_mb), mode=self.mode,
                         cpu=CHECK_SECONDS, python=self.argv[0] != "./checker")
        with open(self.work / "checker.out", "wb") as log:
            run = _execute(self.work, log, log, verdict, self.mode, self.uid,
                           argv=self.argv + ["input.txt", "output.txt", "answer.txt"])
        if run.timed_out:
            return "crash", "checker_timeout"
        return ("pass", "") if run.returncode == 0 else ("fail", "checker_rejected")


def run_custom_checks(spec: dict, result: RunResult, limits: Limits, work: Path, mode: str, uid: int) -> None:
    """After a Python run: judge each saved output (`out-I.txt`) with the row's checker program."""
    checker = _Checker(spec, limits, work, mode, uid)
    for i, state in enumerate(result.status):
        if state != "check":
            continue
        got = (work / f"out-{i}.txt").read_bytes()[:limits.output_bytes].decode(errors="replace")
        result.status[i], result.reasons[i] = checker.check(spec["inputs"][i], got, spec["outputs"][i])
    result.passed = [s == "pass" for s in result.status]
