"""Precompiled headers for the headers contest C++ starts with: the same `g++ -O2`, a fraction of its time.

Most of compiling a small contest program is parsing its headers: `<bits/stdc++.h>` costs seconds, `<iostream>`
most of a second. g++ looks for `NAME.gch` in each include directory before NAME itself and uses it only when it
is valid for that compile (the same compiler and flags, included before any code); otherwise it reads the header
as usual. Either way the program compiles to the same binary, so the verdict cannot change.

The first program whose first include is one of HEADERS builds that header's `.gch` into the cache (as the
verifier's own user, outside the sandbox: it compiles system headers only), once per machine and compiler; one
build at a time (a lock file), written under a temporary name and renamed, so a killed build leaves nothing half
written. The sandbox sees the cache directory at `pch/` in its own directory (a bind mount), given to g++ as `-I`.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import subprocess
import tempfile
from functools import lru_cache
from pathlib import Path

HEADERS = ("bits/stdc++.h", "iostream")
BUILD_SECONDS = 300
_FIRST = re.compile(r"\A(?:\s+|//[^\n]*(?:\n|\Z)|/\*.*?\*/)*#[ \t]*include[ \t]*<([^>\n]+)>", re.S)


def first_header(source: str) -> str | None:
    """The header a program includes first, when it is one that gets a precompiled header."""
    m = _FIRST.match(source)
    return m.group(1).strip() if m and m.group(1).strip() in HEADERS else None


@lru_cache(maxsize=4)
def cache_dir(compile_argv: tuple[str, ...]) -> Path:
    """One directory per compiler version and flags: a .gch is only valid for the compile that made it."""
    from distill_cli.model import distill_home

    version = subprocess.run([compile_argv[0], "--version"], capture_output=True, text=True, timeout=30).stdout
    key = hashlib.sha256((version + "\0".join(compile_argv)).encode()).hexdigest()[:16]
    return distill_home() / "cpp-pch" / key


@lru_cache(maxsize=8)
def pch_dir(header: str, compile_argv: tuple[str, ...]) -> Path | None:
    """The include directory holding `header`'s .gch, built now if missing; None if it cannot be built (the
    program then compiles without one). Remembered per process, so a failing build is tried once."""
    try:
        root = cache_dir(compile_argv)
        target = root / f"{header}.gch"
        if not target.exists():
            _build(root, header, target, compile_argv)
        return root
    except (OSError, subprocess.SubprocessError):
        return None


def _build(root: Path, header: str, target: Path, compile_argv: tuple[str, ...]) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    for d in {root, target.parent}:  # the sandbox's uid reads them through the bind mount
        d.chmod(0o755)
    with open(root / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.exists():  # another worker built it while this one waited
            return
        with tempfile.TemporaryDirectory(dir=root) as tmp:
            wrapper = Path(tmp) / "wrapper.h"
            wrapper.write_text(f"#include <{header}>\n")
            out = Path(tmp) / "out.gch"
            subprocess.run([*compile_argv, "-x", "c++-header", str(wrapper), "-o", str(out)], check=True,
                           capture_output=True, timeout=BUILD_SECONDS)
            out.chmod(0o644)
            os.replace(out, target)
