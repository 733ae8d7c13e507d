"""Enter the sandbox's namespaces (as root): no network, private mounts, /tmp empty, the work directory kept.

Stdlib only, nothing from distill: the Python harness's sandbox calls it in the forked child before exec
(sandbox.py), and the C++ launcher, a bare interpreter, runs this file's text before its own (launcher.py).
"""

import ctypes
import os
import signal

CLONE_NEWNS, CLONE_NEWNET = 0x00020000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 32, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_CHILD_SUBREAPER = 1, 36
_LIBC = []


def libc():
    if not _LIBC:
        lib = ctypes.CDLL(None, use_errno=True)
        lib.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
        _LIBC.append(lib)
    return _LIBC[0]


def check(rc, what):
    if rc != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"sandbox: {what}: {os.strerror(err)}")


def enter_namespaces(uid, prefix, hidden, work, binds=()):
    """Private network and mounts, then drop to `uid` (None: stay root, the launcher drops each child instead).

    The caller already stands in `work` (its cwd), so after the empty tmpfs covers /tmp, "." still names the real
    work directory and is bound back at its old path: the only place under /tmp that outlives the sandbox.
    `binds` ((source, target) pairs) show root's directories read-only inside it, before `hidden` is covered.
    """
    lib = libc()
    check(lib.unshare(CLONE_NEWNS | CLONE_NEWNET), "unshare")
    check(lib.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "make / private")
    check(lib.mount(b"tmpfs", b"/tmp", b"tmpfs", MS_NOSUID | MS_NODEV, b"size=64m,mode=1777"), "tmpfs /tmp")
    for d in (b"/var/tmp", b"/dev/shm"):
        if os.path.isdir(d):
            lib.mount(b"tmpfs", d, b"tmpfs", MS_NOSUID | MS_NODEV, b"size=16m,mode=1777")
    os.makedirs(work, exist_ok=True)
    check(lib.mount(b".", work.encode(), None, MS_BIND, None), "bind work dir")
    for source, target in binds:
        check(lib.mount(source.encode(), target.encode(), None, MS_BIND, None), f"bind {target}")
        check(lib.mount(None, target.encode(), None, MS_BIND | MS_REMOUNT | MS_RDONLY, None), f"{target} read-only")
    if hidden:  # make the interpreter reachable for `uid` without opening the hidden directory itself
        hold = "/tmp/.distill-python"
        os.mkdir(hold)
        check(lib.mount(prefix.encode(), hold.encode(), None, MS_BIND | MS_REC, None), "bind python")
        check(lib.mount(b"tmpfs", hidden.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, b"size=1m,mode=755"), "hide")
        os.makedirs(prefix, exist_ok=True)
        check(lib.mount(hold.encode(), prefix.encode(), None, MS_BIND | MS_REC, None), "rebind python")
    if uid is None:
        return
    os.setgroups([])
    os.setgid(uid)
    os.setuid(uid)


def sweep(uid):
    """Kill every process running as the sandbox's uid, even ones that left the process group.

    kill(-1) signals every process the caller may signal, i.e. (as `uid`) exactly the sandbox's leftovers. The
    forked child only calls setuid/kill/_exit, which is safe even in a threaded parent.
    """
    pid = os.fork()
    if pid == 0:
        try:
            os.setgroups([])
            os.setgid(uid)
            os.setuid(uid)
            os.kill(-1, signal.SIGKILL)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
