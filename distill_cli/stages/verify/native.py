"""C++ programs and custom checker programs: one sandbox per program, compiled once, every test run inside it.

A C++ row gets one Session (session.py): a launcher inside new network and mount namespaces that runs, one after
another, `g++ -O2` on the program (once per row, not per test; a compile error fails every test and is kept as the
row's `code_error`), then the binary once per test, each as the sandbox's unprivileged uid with the row's limits:
CPU `time_limit` (RLIMIT_CPU, and the child's rusage compared here), a wall clock of twice that plus a second (a
program that sleeps), `memory_limit` as its address space. A test past its limit is `timeout` and the next test
runs; after every run the launcher kills all that the uid left behind. The parent, not the sandboxed program,
reads each output and decides the test, so a program cannot forge its results.

Directories: the sandbox directory and everything the parent writes or reads in it are root's; the program's only
writable place is `box/` (its cwd). The binary is copied out of `box/` before the first test, so a test cannot
swap it for the next one.

Custom checkers follow the testlib convention: `checker INPUT OUTPUT ANSWER`, exit status 0 means accepted.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import tempfile
from pathlib import Path

from distill_cli.stages.verify.checkers import CHECKERS
from distill_cli.stages.verify.pch import COMPILE, first_header, ready
from distill_cli.stages.verify.sandbox import Limits, RunResult, _python
from distill_cli.stages.verify.session import SandboxLost, Session

COMPILE_SECONDS = 60.0
CHECK_SECONDS = 10.0


def _text(value) -> str:
    return "\n".join(str(x) for x in value) if isinstance(value, list) else str(value)


def _put(path: Path, text: str) -> Path:
    """A root-owned file the sandbox's uid may read (an input, a checker's files)."""
    path.write_text(text)
    path.chmod(0o644)
    return path


def _read(path: Path, cap: int) -> str | None:
    """A file's first `cap` bytes, never through a symlink the program planted; None when it is not a file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as fh:
        return fh.read(cap).decode(errors="replace") if stat.S_ISREG(os.fstat(fd).st_mode) else None


def _writable(path: Path, box: Session) -> Path:
    path.mkdir()
    if box.uid:
        os.chown(path, box.uid, box.uid)
    return path


def compile_cpp(box: Session, source: str, name: str, build: Path, dest: Path, limits: Limits) -> str | None:
    """Compile `source` in `build` (the uid's) and install the binary as root's `dest/name`; None on success, else
    the compiler's message (the reason kept)."""
    (build / f"{name}.cpp").write_text(source)
    log = box.work / f"{name}.log"
    pch = ["-I", str(box.work / "pch")] if "pch" in box.binds else []
    run = box.run([*COMPILE, *pch, "-o", name, f"{name}.cpp"], build, cpu=COMPILE_SECONDS, wall=COMPILE_SECONDS,
                  memory_mb=max(2048, limits.memory_mb), fsize=64 << 20, nproc=16, stdout=log, stderr="stdout")
    if run.timed_out:
        return f"compile timed out after {COMPILE_SECONDS:.0f} s"
    binary = _binary(build / name) if run.rc == 0 else None
    if binary is None:
        message = (_read(log, 2000) or "").strip()
        return message or f"g++ exited with {run.rc}"
    (dest / name).write_bytes(binary)
    (dest / name).chmod(0o755)
    return None


def _binary(path: Path) -> bytes | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as fh:
        return fh.read() if stat.S_ISREG(os.fstat(fd).st_mode) else None


def _run_test(box: Session, i: int, given: str, limits: Limits) -> tuple[str, str]:
    """Test `i` with `given` on stdin: (status so far, stdout or the reason)."""
    stdin, stdout = _put(box.work / f"in-{i}.txt", given), box.work / f"out-{i}.txt"
    tl = limits.cpu or limits.wall
    run = box.run([str(box.work / "prog")], box.work / "box", cpu=tl, wall=2 * tl + 1, memory_mb=limits.memory_mb,
                  fsize=limits.output_bytes, stdin=stdin, stdout=stdout)
    stdin.unlink()
    got = _read(stdout, limits.output_bytes)
    stdout.unlink(missing_ok=True)
    if run.timed_out or run.cpu > tl or run.rc == -signal.SIGXCPU:
        return "timeout", "test_timeout"
    if run.rc != 0:
        return "crash", f"killed_signal{-run.rc}" if run.rc < 0 else f"exit{run.rc}"
    return "ok", got or ""


def run_cpp(spec: dict, n: int, limits: Limits, work: Path, mode: str, uid: int) -> RunResult:
    """Compile once, run every test (stopping early if asked), judge each output here in the parent."""
    work.chmod(0o755)
    result = RunResult(passed=[False] * n, started=True, status=["skipped"] * n, reasons=[""] * n)
    custom = spec.get("checker") == "custom"
    python_checker = custom and spec.get("checker_language") != "cpp"
    sources = [spec["program"]] + ([spec["checker_program"]] if custom and not python_checker else [])
    try:
        with Session(work, mode, uid, python=python_checker, binds=_pch(sources)) as box:
            build = _writable(work / "box", box)
            result.compile_error = compile_cpp(box, spec["program"], "prog", build, work, limits)
            if result.compile_error is not None:
                result.reasons = ["compile_error"] * n
            else:
                _run_tests(spec, result, limits, box)
    except (SandboxLost, OSError, subprocess.SubprocessError) as exc:
        result.infra_error = f"sandbox_lost:{exc}"
    result.passed = [s == "pass" for s in result.status]
    result.finished = True
    return result


def _pch(sources: list[str]) -> dict[str, Path]:
    """The precompiled-header directory to show the sandbox, when one of the headers these sources start with has
    its .gch built (else a build starts in the background and they compile without it)."""
    built = [ready(h) for h in {first_header(s) for s in sources} - {None}]
    root = next((b for b in built if b is not None), None)  # one directory holds every header's .gch
    return {"pch": root} if root is not None else {}


def _run_tests(spec: dict, result: RunResult, limits: Limits, box: Session) -> None:
    checker = _Checker(spec, limits, box)
    for i, (given, want) in enumerate(zip(spec["inputs"], spec["outputs"], strict=False)):
        state, got = _run_test(box, i, _text(given), limits)
        if state == "ok":
            state, got = checker.check(given, got, want)
        result.status[i] = state
        result.reasons[i] = "" if state == "pass" else "wrong_output" if state == "fail" else got
        if spec.get("stop") and state != "pass":
            break


class _Checker:
    """A built-in checker by name, or the row's checker program (compiled once when it is C++), run in the row's
    session. It lives in `judge/`, root's, which the program's uid cannot write."""

    def __init__(self, spec: dict, limits: Limits, box: Session):
        self.name, self.limits, self.box = spec.get("checker") or "tokens", limits, box
        self.dir = box.work / "judge"
        self.argv: list[str] = []
        self.error: str | None = None
        if self.name == "custom":
            self.dir.mkdir()
            self.dir.chmod(0o755)
            self.error = self._build(spec["checker_program"], spec.get("checker_language") == "cpp")

    def _build(self, source: str, cpp: bool) -> str | None:
        if not cpp:
            _put(self.dir / "checker.py", source)
            self.argv = [_python()[0], "-I", "-S", "checker.py"]
            return None
        build = _writable(self.box.work / "judge-build", self.box)
        self.argv = ["./checker"]
        return compile_cpp(self.box, source, "checker", build, self.dir, self.limits)

    def check(self, given, got: str, want) -> tuple[str, str]:
        if self.name != "custom":
            return ("pass", "") if CHECKERS[self.name](got, want) else ("fail", "wrong_output")
        if self.error is not None:
            return "crash", "checker_compile_error"
        _put(self.dir / "answer.txt", _text(want))
        _put(self.dir / "output.txt", got)
        _put(self.dir / "input.txt", _text(given))
        run = self.box.run(self.argv + ["input.txt", "output.txt", "answer.txt"], self.dir, cpu=CHECK_SECONDS,
                           wall=CHECK_SECONDS, memory_mb=max(1024, self.limits.memory_mb),
                           fsize=self.limits.output_bytes, stdout=self.dir / "checker.out", stderr="stdout")
        if run.timed_out:
            return "crash", "checker_timeout"
        return ("pass", "") if run.rc == 0 else ("fail", "checker_rejected")


def run_custom_checks(spec: dict, result: RunResult, limits: Limits, work: Path, mode: str, uid: int) -> None:
    """After a Python run: judge each saved output (`out-I.txt`) with the row's checker program, in one session
    rooted in a fresh root-owned directory (the harness's directory was the program's to write)."""
    root = Path(tempfile.mkdtemp(prefix="judge-", dir=work))
    root.chmod(0o755)
    python_checker = spec.get("checker_language") != "cpp"
    binds = {} if python_checker else _pch([spec["checker_program"]])
    try:
        with Session(root, mode, uid, python=python_checker, binds=binds) as box:
            checker = _Checker(spec, limits, box)
            for i, state in enumerate(result.status):
                if state != "check":
                    continue
                got = _read(work / f"out-{i}.txt", limits.output_bytes) or ""
                result.status[i], result.reasons[i] = checker.check(spec["inputs"][i], got, spec["outputs"][i])
    except (SandboxLost, OSError, subprocess.SubprocessError) as exc:
        result.infra_error = f"sandbox_lost:{exc}"
    result.passed = [s == "pass" for s in result.status]
