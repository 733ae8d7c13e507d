"""Atomic file writes: a reader sees a file whole or not at all."""

from __future__ import annotations

import json
import os
import re
import socket
from pathlib import Path
from typing import Any

import polars as pl

_HOST = socket.gethostname().replace("-", "_")


def temp_name(path: Path) -> Path:
    """A hidden sibling name, so globs like part-*.parquet never match a file being written."""
    return path.with_name(f".{path.name}.tmp-{_HOST}-{os.getpid()}")


def remove_stale_temps(directory: Path) -> int:
    """Delete temporary files left by killed writers on this host (other hosts may share the directory)."""
    removed = 0
    for tmp in directory.rglob(".*.tmp-*"):
        host, _, pid = tmp.name.rpartition(".tmp-")[2].rpartition("-")
        if host == _HOST and pid.isdigit() and not _alive(int(pid)):
            tmp.unlink(missing_ok=True)
            removed += 1
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def commit(tmp: Path, path: Path) -> None:
    """fsync a finished temporary file and rename it over its final name."""
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_text(path: Path, text: str) -> None:
    tmp = temp_name(path)
    try:
        tmp.write_text(text)
        commit(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path: Path, data: Any) -> None:
    write_text(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def write_parquet(path: Path, df: pl.DataFrame, metadata: dict[str, str] | None = None) -> None:
    """zstd Parquet with optional key-value metadata in the footer (used for per-shard stats)."""
    tmp = temp_name(path)
    try:
        with open(tmp, "wb") as fh:
            try:
                df.write_parquet(fh, compression="zstd", row_group_size=50_000, metadata=metadata or None)
            except pl.exceptions.ComputeError as exc:
                raise _as_os_error(exc, path) from exc
        commit(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _as_os_error(exc: Exception, path: Path) -> Exception:
    """polars reports a failed write (disk full) as ComputeError "... (os error 28)": give it its errno back."""
    found = re.search(r"os error (\d+)", str(exc))
    if not found:
        return exc
    code = int(found.group(1))
    return OSError(code, os.strerror(code), str(path))


def read_footer_metadata(path: Path) -> dict[str, str]:
    return {k: v for k, v in pl.read_parquet_metadata(path).items() if not k.startswith("ARROW")}
