"""Run untrusted model-written programs: a fresh interpreter, limits, no network, killed whole on time-out.

Layers (see docs/stages/verify.md):
- always: `python -I -S` in a new session (its own process group) in a temporary directory that is removed
  afterwards; a minimal environment (nothing inherited, so no secrets); rlimits on CPU, address space, file size,
  open files, processes and core dumps; the parent death signal; a wall-clock limit that SIGKILLs the process group;
  an audit hook in the harness that refuses sockets, subprocesses, fork, kill and writes outside the directory.
- as root ("namespaces" mode): a new network namespace (no interface is up: nothing to connect to), a private
  mount namespace with empty tmpfs over /tmp, /var/tmp and /dev/shm, and a fresh unprivileged uid per worker so
  RLIMIT_NPROC holds, other users' files are off limits, and every leftover process can be swept by uid.

A Python row runs the harness here, all of its tests in one interpreter; a C++ row goes to native.py, whose one
sandbox per program (session.py, launcher.py) applies the same layers to each compile, test and checker run.
"""

from __future__ import annotations

import marshal
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from distill_cli.stages.verify.namespaces import PR_SET_PDEATHSIG, enter_namespaces, libc
from distill_cli.stages.verify.namespaces import sweep as _sweep

HARNESS = (Path(__file__).parent / "checkers.py").read_text() + (Path(__file__).parent / "harness.py").read_text()
ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": "/nonexistent"}


@dataclass
class RunResult:
    """One program's run over a row's tests; `status` holds pass/fail/timeout/crash/skipped/check per test."""

    passed: list[bool]
    started: bool = False
    finished: bool = False
    timed_out: bool = False
    returncode: int | None = None
    reasons: list[str] = field(default_factory=list)
    stderr: str = ""
    status: list[str] = field(default_factory=list)
    compile_error: str | None = None
    infra_error: str | None = None  # a remote sandbox that never answered: the row is `error`, not the program's


@dataclass(frozen=True)
class Limits:
    wall: float = 10.0
    memory_mb: int = 1024
    output_bytes: int = 8 << 20
    mode: str = "auto"  # auto | namespaces | rlimits
    cpu: float | None = None  # CPU seconds; default: the wall clock
    nproc: int = 4  # processes of the sandbox's uid in namespaces mode
    python: bool = True  # the run needs the interpreter reachable (the Python harness does)


def _python() -> tuple[str, str]:
    """The base interpreter (not the venv's symlink) and its prefix: the sandbox needs the stdlib only."""
    exe = os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)
    return exe, os.path.realpath(sys.base_prefix)


def _hidden_ancestor(path: str) -> str | None:
    """The first directory above `path` that other users cannot traverse (e.g. /root for a pyenv Python)."""
    parts = Path(path).parts
    for i in range(2, len(parts) + 1):
        d = os.path.join(*parts[:i])
        if not os.stat(d).st_mode & 0o001:
            return d
    return None


def _preexec(limits: Limits, mode: str, uid: int, work: Path):
    cpu = int(limits.cpu if limits.cpu is not None else limits.wall) + 1
    memory = limits.memory_mb << 20
    exe, prefix = _python()
    hidden = _hidden_ancestor(prefix) if mode == "namespaces" and limits.python else None

    def setup() -> None:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.output_bytes, limits.output_bytes))
        resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))
        if mode == "namespaces":
            # a fresh uid owns at most the sandbox's own processes; execve needs the count below the limit
            resource.setrlimit(resource.RLIMIT_NPROC, (limits.nproc, limits.nproc))
            enter_namespaces(uid, prefix, hidden, str(work))
        else:
            resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
        libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # after setuid, which clears it

    return setup


@lru_cache(maxsize=4)
def resolve_mode(requested: str = "auto") -> str:
    """'namespaces' when we are root and the kernel lets us unshare; else 'rlimits' (documented fallback)."""
    if requested != "auto":
        return requested
    if os.geteuid() != 0:
        return "rlimits"
    try:
        probe = subprocess.run([_python()[0], "-I", "-S", "-c", "pass"], preexec_fn=_preexec(Limits(), "namespaces",
                               _uid(), Path("/")), cwd="/", env=ENV, capture_output=True, timeout=20)
        return "namespaces" if probe.returncode == 0 else "rlimits"
    except (OSError, subprocess.SubprocessError):
        return "rlimits"


def _uid() -> int:
    """One uid per live worker process (pids are unique), so sweeping it never touches another sandbox."""
    return 200_000 + os.getpid()


def sweep_dead_worker(pid: int) -> None:
    """Kill what a killed worker's sandbox left running: its launcher died with it, a daemon of its uid may not.
    (As root only; without namespaces nothing ran as that uid and the sweep finds nothing.)"""
    if os.geteuid() == 0:
        _sweep(200_000 + pid)


def run_program(spec: dict, n_tests: int, limits: Limits) -> RunResult:
    """Run the harness on `spec` (program, kind and tests) and collect one pass/fail per test."""
    mode = resolve_mode(limits.mode)
    uid = _uid()
    work = Path(tempfile.mkdtemp(prefix="distill-sbx-"))
    try:
        if spec.get("language") == "cpp":
            from distill_cli.stages.verify.native import run_cpp

            return run_cpp(spec, n_tests, limits, work, mode, uid)
        (work / "harness.py").write_text(HARNESS)
        (work / "spec.bin").write_bytes(marshal.dumps({**spec, "results": "results.txt",
                                                       "output_cap": limits.output_bytes}))
        if mode == "namespaces":
            os.chown(work, uid, uid)
        with open(work / "stdout.txt", "wb") as out, open(work / "stderr.txt", "wb") as err:
            result = _execute(work, out, err, limits, mode, uid)
        result = _collect(work, n_tests, result)
        if spec.get("checker") == "custom":
            from distill_cli.stages.verify.native import run_custom_checks

            run_custom_checks(spec, result, limits, work, mode, uid)
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _execute(work: Path, out, err, limits: Limits, mode: str, uid: int) -> RunResult:
    """Run the Python harness sandboxed in `work`; SIGKILL its process group at the wall clock, then sweep the uid."""
    argv = [_python()[0], "-I", "-S", "harness.py", "spec.bin"]
    proc = subprocess.Popen(argv, cwd=work, env=ENV, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                            start_new_session=True, preexec_fn=_preexec(limits, mode, uid, work))
    result = RunResult(passed=[])
    try:
        result.returncode = proc.wait(timeout=limits.wall)
    except subprocess.TimeoutExpired:
        result.timed_out = True
    finally:
        _kill_group(proc.pid)
        if result.returncode is None:
            result.returncode = proc.wait()
        if mode == "namespaces":
            _sweep(uid)
    return result


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _collect(work: Path, n_tests: int, result: RunResult) -> RunResult:
    """Read the harness's result lines; a test without one shares the program's fate (killed, timed out)."""
    status: list[str | None] = [None] * n_tests
    reasons = [""] * n_tests
    program: tuple[str, str] | None = None
    path = work / "results.txt"
    lines = path.read_text(errors="replace")[:1 << 20].splitlines() if path.exists() else []
    for line in lines:
        if line == "start":
            result.started = True
        elif line == "end":
            result.finished = True
        else:
            key, _, rest = line.partition("\t")
            state, _, why = rest.partition("\t")
            if key.isdigit() and int(key) < n_tests:
                status[int(key)], reasons[int(key)] = state, why
            elif key == "program":
                program = (state, why)
    stopped = any(s not in (None, "pass", "check") for s in status)
    fill = program or (("timeout", "code_timeout") if result.timed_out else
                       ("skipped", "") if result.finished and stopped else ("crash", "program_exited"))
    result.status = [s or fill[0] for s in status]
    result.reasons = [r or (fill[1] if s is None else "") for s, r in zip(status, reasons, strict=True)]
    result.passed = [s == "pass" for s in result.status]
    stderr = work / "stderr.txt"
    if stderr.exists():
        with open(stderr, "rb") as fh:
            result.stderr = fh.read(4096).decode(errors="replace")
    return result
