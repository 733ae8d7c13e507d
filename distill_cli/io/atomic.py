"""Atomic file writes: a reader sees a file whole or not at all."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq


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


def _commit(tmp: Path, path: Path) -> None:
    with open(tmp, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def write_json(path: Path, data: Any) -> None:
    tmp = temp_name(path)
    try:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")
        _commit(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_parquet(path: Path, df: pl.DataFrame, metadata: dict[str, str] | None = None) -> None:
    """zstd Parquet with optional key-value metadata in the footer (used for per-shard stats)."""
    table = df.to_arrow()
    if metadata:
        merged = dict(table.schema.metadata or {})
        merged.update({k.encode(): v.encode() for k, v in metadata.items()})
        table = table.replace_schema_metadata(merged)
    tmp = temp_name(path)
    try:
        with open(tmp, "wb") as fh:  # Python file objects raise OSError with an errno (ENOSPC, EROFS)
            pq.write_table(table, fh, compression="zstd", row_group_size=50_000)
        _commit(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def read_footer_metadata(path: Path) -> dict[str, str]:
    meta = pq.read_metadata(path).metadata or {}
    return {k.decode(): v.decode() for k, v in meta.items() if not k.startswith(b"ARROW")}


def empty_like(schema: pa.Schema) -> pl.DataFrame:
    return pl.from_arrow(schema.empty_table())
