"""One sandbox for a whole C++ program: a launcher inside the namespaces runs its compile, tests and checks.

Creating the network and mount namespaces and forking the (large) worker process cost tens of milliseconds, more
than a small test itself; paying it per test made sandboxed C++ slower than a bare subprocess per test. A Session
pays it once per program: it starts launcher.py in the sandbox (new namespaces, the work directory bound at its
path, still root), and every run of the program is one request to it: the launcher forks a small child that
drops to the sandbox's uid with that run's own limits, waits with that run's own wall clock and kills everything
the uid left behind before it answers. So each test keeps its own CPU and wall limits and a clean slate, at the
cost of a fork and an exec.

The parent writes inputs and reads outputs in root-owned directories (the program's own writable directory is
`box/`) and decides every test itself.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from distill_cli.stages.verify.sandbox import ENV, _hidden_ancestor, _kill_group, _python, _sweep

LAUNCHER = (Path(__file__).parent / "namespaces.py").read_text() + (Path(__file__).parent / "launcher.py").read_text()
ANSWER_GRACE = 10.0  # seconds past a run's wall clock before a silent launcher counts as lost


class SandboxLost(RuntimeError):
    """The launcher died or stopped answering: the runs left are not the program's to fail."""


@dataclass(frozen=True)
class Exec:
    """One run: its exit code (negative: the signal that killed it), its CPU seconds, whether its wall clock fired."""

    rc: int
    cpu: float
    timed_out: bool


class Session:
    """`with Session(work, mode, uid) as box: box.run([...], cwd, ...)`; the launcher lives until the block ends.

    `python`: some run needs the interpreter reachable by the uid (a Python checker program). `binds`: directories
    shown read-only in the sandbox as `work/NAME` (namespaces mode only)."""

    def __init__(self, work: Path, mode: str, uid: int, python: bool = False, binds: dict[str, Path] | None = None,
                 spawn: bool = True):
        self.work, self.mode, self.python, self.spawn = work, mode, python, spawn
        self.binds = binds if binds and mode == "namespaces" else {}
        self.uid = uid if mode == "namespaces" else 0  # 0: the rlimits mode, where nobody changes user
        self.proc: subprocess.Popen | None = None
        self.lost = False

    def __enter__(self) -> Session:
        (self.work / "launcher.py").write_text(LAUNCHER)
        for name in self.binds:
            (self.work / name).mkdir(mode=0o755)
        exe, prefix = _python()
        setup = {"uid": self.uid, "drop": self._dropper(), "mode": self.mode, "prefix": prefix, "work": str(self.work),
                 "ppid": os.getpid(),
                 "hidden": _hidden_ancestor(prefix) if self.mode == "namespaces" and self.python else None,
                 "binds": [(str(source), str(self.work / name)) for name, source in self.binds.items()]}
        with open(self.work / "launcher.err", "wb") as err:  # no preexec_fn: a vfork, not a copy of the worker
            self.proc = subprocess.Popen([exe, "-I", "-S", "launcher.py", json.dumps(setup)], cwd=self.work,
                                         env=ENV, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                                         start_new_session=True)
        return self

    def _dropper(self) -> str | None:
        """A copy of the spawn helper (dropper.py) in the sandbox's directory, root's; None: the launcher forks."""
        from distill_cli.stages.verify.dropper import dropper

        source = dropper() if self.spawn and self.uid else None
        if source is None:
            return None
        copy = self.work / "drop"
        shutil.copyfile(source, copy)
        copy.chmod(0o755)
        return str(copy)

    def __exit__(self, *exc) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        _kill_group(proc.pid)  # it holds no state worth a goodbye; its runs were each reaped already
        proc.wait()
        for pipe in (proc.stdin, proc.stdout):
            try:
                pipe.close()
            except OSError:
                pass
        # the launcher leaves nothing behind once it answered; a lost or interrupted one may have
        if self.mode == "namespaces" and (self.lost or exc[0] is not None):
            _sweep(self.uid)

    def run(self, argv: list[str], cwd: Path, *, cpu: float, wall: float, memory_mb: int, fsize: int,
            nproc: int = 4, stdin: Path | None = None, stdout: Path | None = None,
            stderr: Path | str | None = None) -> Exec:
        """Run `argv` in `cwd` as the sandbox's uid; stdout/stderr None is /dev/null, stderr "stdout" joins them."""
        cpu_s = int(cpu) + 1  # RLIMIT_CPU counts whole seconds; the caller compares the measured CPU itself
        req = {"argv": argv, "cwd": str(cwd), "stdin": _path(stdin), "stdout": _path(stdout),
               "stderr": stderr if stderr == "stdout" else _path(stderr), "wall": wall, "core": 0, "cpu": cpu_s,
               "memory": memory_mb << 20, "fsize": fsize, "nofile": 64, "nproc": nproc if self.uid else 0}
        answer = self._ask(json.dumps(req) + "\n", wall + ANSWER_GRACE)
        if "error" in answer:
            raise SandboxLost(f"launcher: {answer['error']}")
        return Exec(int(answer["rc"]), float(answer["cpu"]), bool(answer["timed_out"]))

    def _ask(self, line: str, timeout: float) -> dict:
        proc = self.proc
        self.lost = True  # until the answer is in
        if proc is None or proc.poll() is not None:
            raise SandboxLost(f"launcher not running: {self._why()}")
        try:
            proc.stdin.write(line.encode())
            proc.stdin.flush()
            fd, got = proc.stdout.fileno(), b""
            while not got.endswith(b"\n"):
                if not select.select([fd], [], [], timeout)[0]:
                    raise SandboxLost(f"launcher silent for {timeout:.0f} s")
                chunk = os.read(fd, 65536)
                if not chunk:
                    raise SandboxLost(f"launcher exited: {self._why()}")
                got += chunk
            answer = json.loads(got)
            self.lost = False
            return answer
        except (OSError, ValueError) as exc:
            raise SandboxLost(f"launcher: {type(exc).__name__}") from None

    def _why(self) -> str:
        """The last line the launcher wrote to stderr (why it could not start, say), for the row's reason."""
        try:
            lines = (self.work / "launcher.err").read_bytes()[-500:].decode(errors="replace").strip().splitlines()
        except OSError:
            lines = []
        return lines[-1] if lines else "no message"


def _path(path: Path | None) -> str | None:
    return None if path is None else str(path)
