"""Read collect's sources: JSONL, JSON, CSV, Parquet files and Hugging Face datasets (`hf:NAME[:CONFIG]`)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from distill_cli.errors import BadInput
from distill_cli.io.inputs import file_digest

HF_BATCH = 10_000


@dataclass(frozen=True)
class Source:
    spec: str
    name: str  # written to the `source` column
    split: str | None = None

    @property
    def is_hf(self) -> bool:
        return self.spec.startswith("hf:")

    def fingerprint(self) -> dict:
        if self.is_hf:
            return {"path": self.spec, "split": self.split, "digest": f"{self.spec}:{self.split}"}
        path = Path(self.spec)
        if not path.is_file():
            raise BadInput(f"{self.spec}: no such file")
        return {"path": str(path.resolve()), "digest": file_digest(path)}


def make_source(spec: str, split: str | None) -> Source:
    if spec.startswith("hf:"):
        name = spec[3:].rstrip("/").split("/")[-1] or spec[3:]
        return Source(spec, name, split or "train")
    return Source(spec, Path(spec).stem, split)


def read_batches(src: Source, streaming: bool = True) -> Iterator[pl.DataFrame]:
    """Batches of the source's rows; every batch has `__row`, the row's position in the source."""
    offset = 0
    for batch in (_hf_batches(src, streaming) if src.is_hf else [_read_local(Path(src.spec))]):
        yield batch.with_row_index("__row", offset=offset)
        offset += batch.height


def _read_local(path: Path) -> pl.DataFrame:
    suffix = path.suffix.lower()
    if not path.is_file():
        raise BadInput(f"{path}: no such file")
    if path.stat().st_size == 0:
        raise BadInput(f"{path}: file is empty")
    try:
        if suffix in (".jsonl", ".ndjson"):
            df = _read_jsonl(path)
        elif suffix == ".json":
            df = _read_json(path)
        elif suffix in (".csv", ".tsv"):
            df = pl.read_csv(path, infer_schema=False, separator="\t" if suffix == ".tsv" else ",")
        elif suffix == ".parquet":
            df = pl.read_parquet(path)
        else:
            raise BadInput(f"{path}: unknown format '{suffix}' (expected .jsonl, .json, .csv, .tsv or .parquet)")
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as exc:
        raise BadInput(f"{path}: cannot read: {' '.join(str(exc).split())[:200]}") from exc
    if df.height == 0:
        raise BadInput(f"{path}: no rows")
    return df


def _read_jsonl(path: Path) -> pl.DataFrame:
    try:
        return pl.read_ndjson(path, infer_schema_length=10_000)
    except pl.exceptions.PolarsError:
        pass  # fall back to a line-by-line read that names the bad line, or copes with mixed types
    rows = []
    with open(path, "rb") as fh:
        for lineno, raw in enumerate(fh, 1):
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


def _read_json(path: Path) -> pl.DataFrame:
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise BadInput(f"{path}: not valid UTF-8 (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise BadInput(f"{path}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    if isinstance(data, dict):
        lists = [v for v in data.values() if isinstance(v, list)]
        if len(lists) != 1:
            raise BadInput(f"{path}: expected a JSON array of objects (or one object holding such an array)")
        data = lists[0]
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise BadInput(f"{path}: expected a JSON array of objects")
    return _frame(data, path)


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


def _hf_batches(src: Source, streaming: bool) -> Iterator[pl.DataFrame]:
    from distill_cli.errors import require

    datasets = require("datasets", "hub")
    name, _, config = src.spec[3:].partition(":")
    path = Path(name)
    try:
        if path.is_dir() and ((path / "dataset_info.json").exists() or (path / "dataset_dict.json").exists()):
            ds = datasets.load_from_disk(str(path))
            if isinstance(ds, datasets.DatasetDict):
                if src.split not in ds:
                    raise BadInput(f"{src.spec}: no split '{src.split}' (splits: {', '.join(ds)})")
                ds = ds[src.split]
        else:
            ds = datasets.load_dataset(name, config or None, split=src.split, streaming=streaming)
        for batch in ds.iter(batch_size=HF_BATCH):
            yield pl.DataFrame(batch, strict=False)
    except BadInput:
        raise
    except Exception as exc:  # the hub client raises many kinds; each is a bad source for the user
        raise BadInput(f"{src.spec}: cannot load dataset: {' '.join(str(exc).split())[:200]}") from exc
