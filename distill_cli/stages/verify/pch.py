"""Precompiled headers for the headers contest C++ starts with: the same `g++ -O2`, a fraction of its time.

Most of compiling a small contest program is parsing its headers: `<bits/stdc++.h>` costs seconds, `<iostream>`
most of a second. g++ looks for `NAME.gch` in each include directory before NAME itself and uses it only when it
is valid for that compile (the same compiler and flags, included before any code); otherwise it reads the header
as usual. Either way the program compiles to the same binary, so the verdict cannot change.

The first program whose first include is one of HEADERS starts a build of that header's `.gch` in the background
(`python -m distill_cli.stages.verify.pch HEADER`, as the verifier's own user, outside the sandbox: it compiles
system headers only) and compiles without it; programs that come once it is built use it. A build happens once
per machine and compiler (the cache is keyed by both), one at a time (a lock file), written under a temporary
name and renamed, so a killed build leaves nothing half written. The sandbox sees the cache at `pch/` in its own
directory (a read-only bind mount), given to g++ as `-I`.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import subprocess
import sys
from functools import lru_cache
from pathlib import Path

HEADERS = ("bits/stdc++.h", "iostream")
COMPILE = ("/usr/bin/g++", "-O2", "-std=gnu++17", "-pipe")  # the flags every program is compiled with
BUILD_SECONDS = 600
_FIRST = re.compile(r"\A(?:\s+|//[^\n]*(?:\n|\Z)|/\*.*?\*/)*#[ \t]*include[ \t]*<([^>\n]+)>", re.S)


def first_header(source: str) -> str | None:
    """The header a program includes first, when it is one that gets a precompiled header."""
    m = _FIRST.match(source)
    return m.group(1).strip() if m and m.group(1).strip() in HEADERS else None


@lru_cache(maxsize=1)
def cache_dir() -> Path:
    """One directory per compiler version and flags: a .gch is only valid for the compile that made it."""
    from distill_cli.model import distill_home

    version = subprocess.run([COMPILE[0], "--version"], capture_output=True, text=True, timeout=30).stdout
    key = hashlib.sha256((version + "\0".join(COMPILE)).encode()).hexdigest()[:16]
    return distill_home() / "cpp-pch" / key


def ready(header: str) -> Path | None:
    """The include directory when `header`'s .gch is built; else None, after starting its build (once per
    process) so that later programs find it."""
    try:
        root = cache_dir()
        if (root / f"{header}.gch").is_file():
            return root
        _start_build(header)
    except (OSError, subprocess.SubprocessError):
        pass
    return None


@lru_cache(maxsize=len(HEADERS))
def _start_build(header: str) -> None:
    subprocess.Popen([sys.executable, "-m", "distill_cli.stages.verify.pch", header], stdin=subprocess.DEVNULL,
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def build(header: str, wait: bool = True) -> bool:
    """Build `header`'s .gch unless it exists; True when it is there afterwards. `wait=False`: give up at once when
    another build holds the lock (it will finish the job)."""
    root = cache_dir()
    target = root / f"{header}.gch"
    target.parent.mkdir(parents=True, exist_ok=True)
    for d in {root, target.parent}:  # the sandbox's uid reads them through the bind mount
        d.chmod(0o755)
    with open(root / ".lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            return False
        if target.is_file():
            return True
        for pattern in ("*.tmp.h", "*.tmp.gch"):  # what a killed build left; no other build runs while we hold the lock
            for stale in root.glob(pattern):
                stale.unlink()
        wrapper, out = root / f"{os.getpid()}.tmp.h", root / f"{os.getpid()}.tmp.gch"
        try:
            wrapper.write_text(f"#include <{header}>\n")
            run = subprocess.run([*COMPILE, "-x", "c++-header", str(wrapper), "-o", str(out)], capture_output=True,
                                 timeout=BUILD_SECONDS)
            if run.returncode != 0 or not out.is_file():
                return False
            out.chmod(0o644)
            os.replace(out, target)
            return True
        finally:
            wrapper.unlink(missing_ok=True)
            out.unlink(missing_ok=True)


if __name__ == "__main__":
    build(sys.argv[1], wait=False)
