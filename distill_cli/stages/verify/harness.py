"""Runs inside the sandbox (`python -I -S harness.py spec.bin`): the program, then each test, one result per line.

The sandbox prepends checkers.py to this file (CHECKERS comes from there). A test's result is a status: pass,
fail, timeout (its per-test limit: CPU `time_limit`, wall twice that plus a second), crash (the program raised),
skipped (after a failure with stop-on-first-failure) or check (output saved for a custom checker program).

Built-in modules only (no json: importing it costs more than a small program's tests), nothing from distill:
this file is executed by a fresh interpreter, the one that wrote the marshal'd spec, in a temporary directory.
Results go to a file opened before the program runs, one flushed line per test, so a program that is killed
half-way still leaves the results of the tests it finished.
"""

import io
import marshal
import os
import signal
import sys

_BLOCKED = ("socket.", "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork",
            "os.forkpty", "pty.spawn", "os.kill", "os.killpg", "shutil.rmtree")


class _Capped(io.StringIO):
    """Captured stdout that refuses to grow past a cap (a program printing forever fails its test)."""

    def __init__(self, cap):
        super().__init__()
        self.cap = cap

    def write(self, s):
        if self.tell() + len(s) > self.cap:
            raise OSError("output limit exceeded")
        return super().write(s)


def _guard(root):
    """Second line of defence after the OS-level limits: no sockets, processes or writes outside the cwd."""

    def hook(event, args):
        if event.startswith(_BLOCKED):
            raise PermissionError(f"sandbox: {event} is not allowed")
        if event == "open" and len(args) >= 3 and isinstance(args[0], (str, bytes)):
            mode, flags = args[1], args[2] or 0
            writing = (mode and any(c in str(mode) for c in "wax+")) or (flags & (os.O_WRONLY | os.O_RDWR))
            path = os.path.abspath(os.fsdecode(args[0]))
            if writing and not (path + os.sep).startswith(root + os.sep) and path != os.devnull:
                raise PermissionError(f"sandbox: writing {path} is not allowed")

    sys.addaudithook(hook)


def _same(got, want):
    """Function results: equal, or floats within 1e-6 (lists compared element by element)."""
    if got == want:
        return True
    if isinstance(got, float) or isinstance(want, float):
        try:
            return abs(float(got) - float(want)) <= 1e-6 * max(1.0, abs(float(want)))
        except (TypeError, ValueError):
            return False
    if isinstance(got, (list, tuple)) and isinstance(want, (list, tuple)):
        return len(got) == len(want) and all(_same(a, b) for a, b in zip(got, want, strict=False))
    return False


class _TestTimeout(BaseException):
    """Raised by the per-test timers; a BaseException so `except Exception` in the program does not eat it."""


def _expire(signum, frame):
    raise _TestTimeout()


class _Timer:
    """CPU (ITIMER_PROF) and wall (ITIMER_REAL) limits around one test; no limit when time_limit is None."""

    def __init__(self, limit):
        self.limit = limit
        if limit:
            signal.signal(signal.SIGPROF, _expire)
            signal.signal(signal.SIGALRM, _expire)

    def __enter__(self):
        if self.limit:
            signal.setitimer(signal.ITIMER_PROF, self.limit)
            signal.setitimer(signal.ITIMER_REAL, 2 * self.limit + 1)

    def __exit__(self, *exc):
        if self.limit:
            signal.setitimer(signal.ITIMER_PROF, 0)
            signal.setitimer(signal.ITIMER_REAL, 0)


def _failed(exc):
    return ("timeout", "test_timeout") if isinstance(exc, _TestTimeout) else ("crash", type(exc).__name__)


def _run_stdio(code, spec, report):
    real_in, real_out = sys.stdin, sys.stdout
    timer, checker = _Timer(spec.get("time_limit")), spec.get("checker") or "tokens"
    for i, (given, want) in enumerate(zip(spec["inputs"], spec["outputs"], strict=False)):
        if isinstance(given, list):
            given = "\n".join(str(x) for x in given)
        sys.stdin, sys.stdout = io.StringIO(str(given)), _Capped(spec["output_cap"])
        try:
            with timer:
                exec(code, {"__name__": "__main__"})
        except SystemExit:
            pass
        except BaseException as exc:  # noqa: BLE001 - any failure of the program fails this test
            sys.stdin, sys.stdout = real_in, real_out
            if report(i, *_failed(exc)):
                return
            continue
        got = sys.stdout.getvalue()
        sys.stdin, sys.stdout = real_in, real_out
        if checker == "custom":
            with open(f"out-{i}.txt", "w") as fh:
                fh.write(got)
            report(i, "check", "")
        elif report(i, "pass" if CHECKERS[checker](got, want) else "fail", "wrong_output"):  # noqa: F821
            return


def _run_calls(code, spec, report):
    env = {"__name__": "solution"}
    exec(code, env)
    name = spec["fn_name"]
    fn = env.get(name)
    if fn is None and isinstance(env.get("Solution"), type):
        fn = getattr(env["Solution"](), name, None)
    if fn is None:
        raise NameError(f"no function {name!r}")
    timer = _Timer(spec.get("time_limit"))
    for i, (args, want) in enumerate(zip(spec["inputs"], spec["outputs"], strict=False)):
        try:
            with timer:
                got = fn(*args) if isinstance(args, list) else fn(args)
            ok = _same(got, want) or (isinstance(want, list) and len(want) == 1 and _same(got, want[0]))
            stop = report(i, "pass" if ok else "fail", "wrong_result")
        except BaseException as exc:  # noqa: BLE001
            stop = report(i, *_failed(exc))
        if stop:
            return


def _run_asserts(code, spec, report):
    env = {"__name__": "solution"}
    exec(code, env)
    timer = _Timer(spec.get("time_limit"))
    for i, test in enumerate(spec["tests"]):
        try:
            with timer:
                exec(compile(test, f"<test {i}>", "exec"), env)
            stop = report(i, "pass", "")
        except AssertionError:
            stop = report(i, "fail", "AssertionError")
        except BaseException as exc:  # noqa: BLE001
            stop = report(i, *_failed(exc))
        if stop:
            return


def main():
    with open(sys.argv[1], "rb") as fh:
        spec = marshal.load(fh)
    out = open(spec["results"], "w", buffering=1)

    def report(i, status, why):
        """Write one test's result; True when the run should stop here (stop-on-first-failure)."""
        out.write(f"{i}\t{status}\t{why if status != 'pass' else ''}\n")
        return bool(spec.get("stop")) and status not in ("pass", "check")

    out.write("start\n")
    _guard(os.getcwd())
    sys.setrecursionlimit(10_000)
    try:
        code = compile(spec["program"], "<program>", "exec")
        {"asserts": _run_asserts, "stdio": _run_stdio, "calls": _run_calls}[spec["kind"]](code, spec, report)
    except BaseException as exc:  # noqa: BLE001 - the program failed before or between its tests
        sys.stdout = sys.__stdout__
        out.write(f"program\t{_failed(exc)[0]}\t{_failed(exc)[1]}\n")
    out.write("end\n")
    out.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
