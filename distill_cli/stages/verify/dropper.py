"""A tiny C program that takes a run's limits, drops to the sandbox's uid and execs the run.

The launcher could fork itself for each test and do this in Python, but forking a Python process costs ~3-5 ms of
CPU here (copy-on-write of its heap), more than many contest programs take. posix_spawn (a vfork) costs ~1 ms but
can neither set limits nor change the uid, so the launcher spawns this instead:
`drop UID CPU AS FSIZE NOFILE NPROC CWD -- PROGRAM ARGS...`. It is built once per machine and compiler next to
the precompiled headers (a C compiler comes with g++, which C++ rows need anyway); without one the launcher forks.
Exit status 126: the setup failed; 127: the exec did.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

from distill_cli.stages.verify.pch import cache_dir

SOURCE = r"""
#include <grp.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

static void limit(int what, const char *value, int extra) {
    rlim_t v = (rlim_t)strtoull(value, 0, 10);
    struct rlimit l = {v, v + extra};
    if (setrlimit(what, &l) != 0) _exit(126);
}

int main(int argc, char **argv) {
    if (argc < 10) return 126;
#ifdef SYS_close_range
    if (syscall(SYS_close_range, 3, ~0U, 0) != 0)
#endif
        for (int fd = 3; fd < 1024; fd++) close(fd);
    limit(RLIMIT_CORE, "0", 0);
    limit(RLIMIT_CPU, argv[2], 1);
    limit(RLIMIT_AS, argv[3], 0);
    limit(RLIMIT_FSIZE, argv[4], 0);
    limit(RLIMIT_NOFILE, argv[5], 0);
    limit(RLIMIT_NPROC, argv[6], 0);
    uid_t uid = (uid_t)strtoul(argv[1], 0, 10);
    if (setgroups(0, 0) != 0 || setgid(uid) != 0 || setuid(uid) != 0) _exit(126);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) _exit(126); /* after setuid, which clears it */
    if (chdir(argv[7]) != 0) _exit(126);
    execv(argv[9], argv + 9);
    _exit(127);
}
"""


@lru_cache(maxsize=1)
def dropper() -> Path | None:
    """The built helper (root's, in the cache), or None when no C compiler can build it."""
    try:
        path = cache_dir() / "drop"
        if not path.is_file():
            _build(path)
        return path if path.is_file() else None
    except (OSError, subprocess.SubprocessError):
        return None


def _build(path: Path) -> None:
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / ".drop.lock", "w") as lock:  # not the headers' lock: a header build takes minutes
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.is_file():
            return
        source, out = path.parent / f"drop.{os.getpid()}.tmp.c", path.parent / f"drop.{os.getpid()}.tmp"
        try:
            source.write_text(SOURCE)
            subprocess.run([compiler, "-O2", "-o", str(out), str(source)], check=True, capture_output=True,
                           timeout=120)
            out.chmod(0o755)
            os.replace(out, path)
        finally:
            source.unlink(missing_ok=True)
            out.unlink(missing_ok=True)
