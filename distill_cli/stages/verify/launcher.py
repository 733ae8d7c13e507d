"""The sandbox's launcher (`python -I -S launcher.py SETUP`): enters the sandbox, then starts each requested run.

One launcher lives for a whole C++ program (compile, every test, a checker program's runs). It enters new network
and mount namespaces itself (namespaces.py, whose text precedes this file's), so the worker starts it with a cheap
vfork instead of a fork of its own large process. It keeps root's identity, so the program, which runs as the
sandbox's unprivileged uid, can neither signal, trace nor read it, and it is a child subreaper: whatever a run
leaves behind (a daemon that left its process group, an orphan) is reparented to it and shows as its child.

Per request (one JSON line on stdin: argv, cwd, stdin/stdout/stderr paths, limits) it starts a child in a new
session that takes the run's rlimits (CPU, address space, file size, open files, processes), drops to the uid
and execs: posix_spawn of the small C helper that does that (dropper.py; a vfork, ~1 ms), or without one a fork
of this process doing it in Python (~3-5 ms). It waits with the run's wall clock (a pidfd polled with a
timeout), SIGKILLs the child's process group, and if anything of the run is still alive, kills every process of
the uid (`kill(-1)` from a helper that became the uid), so nothing of one test survives into the next. It
answers one JSON line: the exit code (negative: the signal), the child's CPU seconds from its rusage, whether
the wall clock fired.

It judges nothing: the parent reads the outputs and decides each test. Stdlib only, nothing from distill: this file
is executed by a bare interpreter in the sandbox's directory (`libc`, `enter_namespaces` and the PR_* constants
come from namespaces.py, prepended).
"""

import json
import os
import resource
import select
import signal
import sys
import time

_KINDS = ((resource.RLIMIT_CORE, "core"), (resource.RLIMIT_CPU, "cpu"), (resource.RLIMIT_AS, "memory"),
          (resource.RLIMIT_FSIZE, "fsize"), (resource.RLIMIT_NOFILE, "nofile"), (resource.RLIMIT_NPROC, "nproc"))


_DEFAULT_SIGNALS = (signal.SIGPIPE, signal.SIGXFSZ)  # Python ignores them, and an exec keeps what is ignored


def _setup(cfg):
    """Enter the sandbox, die with the parent, become the subreaper (False if the kernel refuses)."""
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if cfg["mode"] == "namespaces":
        enter_namespaces(None, cfg["prefix"], cfg["hidden"], cfg["work"], cfg["binds"])  # noqa: F821
        os.setgroups([])  # nothing of root's groups for a child to inherit
    prctl = libc().prctl  # noqa: F821
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # noqa: F821
    if os.getppid() != cfg["ppid"]:  # the parent died before the signal was armed
        sys.exit(1)
    return prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0  # noqa: F821


def _spawn(req, uid, fds, drop):
    """posix_spawn (a vfork, no copy of this process) of the drop helper, which takes the limits and the uid."""
    argv = [drop, str(uid), str(req["cpu"]), str(req["memory"]), str(req["fsize"]), str(req["nofile"]),
            str(req["nproc"]), req["cwd"], "--", *req["argv"]]
    actions = [(os.POSIX_SPAWN_DUP2, fd, target) for target, fd in enumerate(fds)]
    return os.posix_spawn(drop, argv, os.environ, file_actions=actions, setsid=True, setsigdef=_DEFAULT_SIGNALS)


def _child(req, uid, fds):
    """In the forked child: its own session, the run's files as 0/1/2, limits, the uid, then exec. Never returns."""
    try:
        os.setsid()
        for sig in _DEFAULT_SIGNALS:
            signal.signal(sig, signal.SIG_DFL)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
        os.closerange(3, 4096)
        for r, key in _KINDS:
            resource.setrlimit(r, (req[key], req[key] + 1 if key == "cpu" else req[key]))
        if uid:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
        libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # noqa: F821 - after setuid, which clears it
        os.chdir(req["cwd"])
        os.execve(req["argv"][0], req["argv"], os.environ)
    finally:
        os._exit(127)


def _reap(pid, wall):
    """Wait for `pid` at most `wall` seconds, then SIGKILL its process group and reap it: (timed out, status,
    rusage). Killing the group even after a normal exit ends what the child left running in it."""
    timed_out, deadline = False, time.monotonic() + wall
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):  # an old kernel: poll the child instead
        fd = None
    if fd is not None:
        try:
            poller = select.poll()
            poller.register(fd, select.POLLIN)
            timed_out = not poller.poll(max(0, int(wall * 1000)))
        finally:
            os.close(fd)
    else:
        while not os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT):
            if time.monotonic() > deadline:
                timed_out = True
                break
            time.sleep(0.001)
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    _, status, usage = os.wait4(pid, 0)
    return timed_out, status, usage


def _leftovers():
    """Reap what already ended; True when some descendant of a run is still alive (the subreaper's child)."""
    try:
        while os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG) is not None:
            pass
    except ChildProcessError:
        return False
    return True


def _reap_all():
    deadline = time.monotonic() + 2.0
    try:
        while time.monotonic() < deadline:
            if os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG) is None:
                time.sleep(0.001)
    except ChildProcessError:
        pass


def _open(path, write):
    if path is None:
        return os.open(os.devnull, (os.O_WRONLY if write else os.O_RDONLY) | os.O_CLOEXEC)
    flags = (os.O_WRONLY | os.O_CREAT | os.O_TRUNC) if write else os.O_RDONLY
    return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)


def run(req, uid, subreaper, drop):
    fds = [_open(req["stdin"], False), _open(req["stdout"], True)]
    fds.append(fds[1] if req["stderr"] == "stdout" else _open(req["stderr"], True))
    try:
        if drop and uid:
            pid = _spawn(req, uid, fds, drop)
        else:
            pid = os.fork()
            if pid == 0:
                _child(req, uid, fds)
    finally:
        for fd in set(fds):
            os.close(fd)
    timed_out, status, usage = _reap(pid, req["wall"])
    if uid and (not subreaper or _leftovers()):
        sweep(uid)  # noqa: F821 (namespaces.py's, prepended)
        _reap_all()
    return {"rc": os.waitstatus_to_exitcode(status), "cpu": usage.ru_utime + usage.ru_stime, "timed_out": timed_out}


def main():
    cfg = json.loads(sys.argv[1])
    uid, subreaper = cfg["uid"], _setup(cfg)
    for line in sys.stdin:
        try:
            answer = run(json.loads(line), uid, subreaper, cfg["drop"])
        except OSError as exc:
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
