"""Read one local data file as collect sees it: JSON lines, JSON, CSV/TSV (each plain or compressed), Parquet, Arrow.

Compressed text files are opened through pyarrow's compressed input streams (gzip, zstd, bz2, lz4: the codec
follows the last suffix), then parsed by the same reader as the plain file, so `x.jsonl.zst` gives exactly the rows
of `x.jsonl`. Arrow files are read by pyarrow.ipc: `datasets` writes the stream format, other tools the file format.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import polars as pl

from distill_cli.errors import BadInput, one_line

COMPRESSIONS = {".gz": "gzip", ".zst": "zstd", ".bz2": "bz2", ".lz4": "lz4"}
TEXT_FORMATS = (".jsonl", ".ndjson", ".json", ".csv", ".tsv")
BINARY_FORMATS = (".parquet", ".arrow", ".feather", ".ipc")
ACCEPTED = ("JSON lines (.jsonl, .ndjson), .json, .csv and .tsv files, each plain or compressed "
            "(.gz, .zst, .bz2), .parquet and .arrow files, directories and globs of them, `datasets` "
            "save_to_disk directories, and hf:NAME[:CONFIG]")


def file_kind(path: Path) -> tuple[str, str | None] | None:
    """(format suffix, compression codec) of a data file collect reads, or None."""
    suffixes = [s.lower() for s in path.suffixes]
    codec = COMPRESSIONS.get(suffixes[-1]) if suffixes else None
    if codec is not None:
        suffixes = suffixes[:-1]
    fmt = suffixes[-1] if suffixes else ""
    if fmt in TEXT_FORMATS or fmt in BINARY_FORMATS and codec is None:
        return fmt, codec
    return None


def read_file(path: Path) -> pl.DataFrame:
    kind = file_kind(path)
    if kind is None:
        raise BadInput(f"{path}: a file of a kind collect does not read ('{''.join(path.suffixes) or path.name}'); "
                       f"it reads {ACCEPTED}")
    if path.stat().st_size == 0:
        raise BadInput(f"{path}: file is empty")
    fmt, codec = kind
    try:
        df = _read_binary(path, fmt) if fmt in BINARY_FORMATS else _read_text(path, fmt, codec)
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"{path}: cannot read as {fmt[1:]}{f' ({codec})' if codec else ''}: {one_line(exc, 200)}"
                       ) from exc
    if df.height == 0:
        raise BadInput(f"{path}: no rows")
    return df


def _decompressed(path: Path, codec: str) -> bytes:
    import pyarrow as pa

    try:
        with pa.input_stream(str(path), compression=codec) as stream:
            return stream.read()
    except (pa.ArrowException, OSError) as exc:
        raise BadInput(f"{path}: not readable as {codec}-compressed data: {one_line(exc, 200)}") from exc


def _read_binary(path: Path, fmt: str) -> pl.DataFrame:
    if fmt == ".parquet":
        return pl.read_parquet(path)
    import pyarrow as pa

    try:
        with pa.memory_map(str(path)) as source:
            try:
                table = pa.ipc.open_file(source).read_all()
            except pa.ArrowInvalid:  # `datasets` writes Arrow's stream format, not the file format
                source.seek(0)
                table = pa.ipc.open_stream(source).read_all()
    except pa.ArrowException as exc:
        raise BadInput(f"{path}: not an Arrow IPC file or stream: {one_line(exc, 200)}") from exc
    return pl.from_arrow(table)


def _read_text(path: Path, fmt: str, codec: str | None) -> pl.DataFrame:
    """A plain file goes to polars by path (memory-mapped, the fast path); a compressed one as its bytes."""
    data: Path | bytes = path if codec is None else _decompressed(path, codec)
    if fmt in (".jsonl", ".ndjson"):
        return _read_jsonl(path, data)
    if fmt == ".json":
        return _read_json(path, data if isinstance(data, bytes) else path.read_bytes())
    source = data if isinstance(data, Path) else io.BytesIO(data)
    return pl.read_csv(source, infer_schema=False, separator="\t" if fmt == ".tsv" else ",")


def _read_jsonl(path: Path, data: Path | bytes) -> pl.DataFrame:
    try:
        return pl.read_ndjson(data if isinstance(data, Path) else io.BytesIO(data), infer_schema_length=10_000)
    except pl.exceptions.PolarsError:
        pass  # fall back to a line-by-line read that names the bad line, or copes with mixed types
    rows = []
    for lineno, raw in enumerate((data.read_bytes() if isinstance(data, Path) else data).split(b"\n"), 1):
        if not raw.strip():
            continue
        try:
            rows.append(json.loads(raw.decode("utf-8")))
        except UnicodeDecodeError as exc:
            raise BadInput(f"{path}:{lineno}: not valid UTF-8 (byte {exc.start})") from None
        except json.JSONDecodeError as exc:
            raise BadInput(f"{path}:{lineno}: invalid JSON: {exc.msg} at column {exc.colno}") from None
        if not isinstance(rows[-1], dict):
            raise BadInput(f"{path}:{lineno}: expected a JSON object, got {type(rows[-1]).__name__}")
    return _frame(rows, path)


def _read_json(path: Path, data: bytes) -> pl.DataFrame:
    try:
        value = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise BadInput(f"{path}: not valid UTF-8 (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise BadInput(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    if isinstance(value, dict):
        lists = [v for v in value.values() if isinstance(v, list)]
        if len(lists) != 1:
            raise BadInput(f"{path}: expected a JSON array of objects (or one object holding such an array)")
        value = lists[0]
    if not isinstance(value, list) or not all(isinstance(r, dict) for r in value):
        raise BadInput(f"{path}: expected a JSON array of objects")
    return _frame(value, path)


def _frame(rows: list[dict], path: Path) -> pl.DataFrame:
    if not rows:
        raise BadInput(f"{path}: no rows")
    try:
        return pl.DataFrame(rows, infer_schema_length=None)
    except (pl.exceptions.PolarsError, TypeError, ValueError):
        # mixed types in a column: keep each value as text rather than guess
        keys = list(dict.fromkeys(k for r in rows for k in r))
        cols = {k: [None if r.get(k) is None else _text(r.get(k)) for r in rows] for k in keys}
        return pl.DataFrame(cols, schema={k: pl.String for k in keys})


def _text(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)
