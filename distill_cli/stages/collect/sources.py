"""What collect reads: local files (local_files.py), globs and directories of them, `datasets` save_to_disk
output, and Hugging Face datasets (`hf:NAME[:CONFIG]`).

A directory is laid out as `datasets` lays it out (a hub snapshot's `data/train-00000-of-00001.parquet`, the configs
in its README.md), so its splits are the ones `load_dataset` would see; the files are then read directly, fast.
"""

from __future__ import annotations

import glob as globlib
import hashlib
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from distill_cli.errors import BadInput, one_line, require
from distill_cli.stagedir.inputs import MANIFEST, file_digest, resolve_files
from distill_cli.stages.collect.local_files import (
    ACCEPTED,
    BINARY_FORMATS,
    COMPRESSIONS,
    TEXT_FORMATS,
    file_kind,
    read_file,
)

HF_BATCH = 10_000
SHARD_STEM = re.compile(r"^(?:[\w.]+-)?\d{5}-of-\d{5}$")  # train-00000-of-00001, data-00000-of-00001
GENERIC_DIRS = ("data",)


@dataclass(frozen=True)
class Local:
    """A local source once looked at: its data files in order, or a `datasets` save_to_disk directory."""

    files: tuple[Path, ...]
    saved: Path | None = None  # a saved Dataset (for a DatasetDict, the chosen split's directory)


@dataclass(frozen=True)
class Source:
    spec: str
    name: str  # written to the `source` column
    split: str | None = None
    local: Local | None = None

    @property
    def is_hf(self) -> bool:
        return self.spec.startswith("hf:")

    def fingerprint(self) -> dict:
        if self.local is None:
            return {"path": self.spec, "split": self.split, "digest": f"{self.spec}:{self.split}"}
        files = self.local.files
        if len(files) == 1 and self.local.saved is None:
            return {"path": str(files[0].resolve()), "digest": file_digest(files[0])}
        digest = hashlib.blake2b("\n".join(f"{f.name}:{file_digest(f)}" for f in files).encode(), digest_size=12)
        return {"path": str(Path(self.spec).resolve()), "split": self.split, "files": len(files),
                "digest": digest.hexdigest()}


def make_source(spec: str, split: str | None) -> Source:
    if spec.startswith("hf:"):
        name = spec[3:].rstrip("/").split("/")[-1] or spec[3:]
        return Source(spec, name, split or "train")
    return Source(spec, source_name(spec), split, resolve_local(spec, split))


def source_name(spec: str) -> str:
    """What the `source` column says: the file's name without its suffixes, or the dataset directory's name
    for a directory, a glob or a shard file of one (`gsm8k/data/test-00000-of-00001.parquet` is gsm8k)."""
    path = Path(spec)
    if _is_glob(spec) and not path.exists():
        stems = [_stem(Path(p).name) for p in globlib.glob(spec, recursive=True)]
        common = os.path.commonprefix(stems)
        if len(set(stems)) > 1:  # cut at a word boundary: aime2025_I and aime2025_II share aime2025, not aime2025_I
            common = re.sub(r"[^_\-. ]*$", "", common)
        common = common.rstrip("_-. ")
        if common and not any(SHARD_STEM.match(s) for s in stems):
            return common  # aime2025_I.jsonl and aime2025_II.jsonl are aime2025
        path = Path(*[p for p in path.parts[:next(i for i, p in enumerate(path.parts) if _is_glob(p))]] or ["."])
    elif not path.is_dir():
        stem = _stem(path.name)
        if not SHARD_STEM.match(stem):
            return stem
        path = path.parent
    path = path.absolute()
    while path.name in GENERIC_DIRS and path.parent != path:
        path = path.parent
    return path.name or spec


def _stem(name: str) -> str:
    """The name without its compression and format suffixes: gsm8k_test.jsonl.gz is gsm8k_test."""
    for known in (COMPRESSIONS, (*TEXT_FORMATS, *BINARY_FORMATS)):
        suffix = next((s for s in known if name.lower().endswith(s)), None)
        name = name[: -len(suffix)] if suffix and len(name) > len(suffix) else name
    return name


def resolve_local(spec: str, split: str | None) -> Local:
    """The files of a local file, glob or directory; a path that exists but holds nothing readable says what it is."""
    path = Path(spec)
    if not path.exists():
        if not _is_glob(spec):
            raise BadInput(f"{spec}: no such file or directory")
        found = sorted(Path(p) for p in globlib.glob(spec, recursive=True) if Path(p).is_file())
        files = [f for f in found if file_kind(f) is not None]
        if not files:
            what = f"only files it cannot read ({_names(found)})" if found else "no files"
            raise BadInput(f"{spec}: the pattern matches {what}; collect reads {ACCEPTED}")
        return Local(tuple(files))
    if path.is_file():
        if file_kind(path) is None:
            read_file(path)  # raises the error that says what the file is and what is accepted
        return Local((path,))
    if not path.is_dir():
        raise BadInput(f"{spec}: not a regular file or directory; collect reads {ACCEPTED}")
    return _directory(path, split)


def _directory(path: Path, split: str | None) -> Local:
    if (path / "dataset_dict.json").exists():  # a DatasetDict written by save_to_disk: one directory per split
        splits = json.loads((path / "dataset_dict.json").read_text()).get("splits", [])
        return _saved(path / _choose(path, split, splits))
    if (path / "state.json").exists() and (path / "dataset_info.json").exists():  # a Dataset from save_to_disk
        return _saved(path)
    if (path / MANIFEST).exists():  # a distill stage directory
        return Local(tuple(resolve_files(str(path))[0]))
    by_split = _data_files(path)
    return Local(tuple(Path(f) for f in by_split[_choose(path, split, list(by_split))]))


def _saved(path: Path) -> Local:
    files = tuple(sorted(path.glob("*.arrow")))
    if not files:
        raise BadInput(f"{path}: a `datasets` save_to_disk directory without .arrow files")
    return Local(files, saved=path)


def _choose(path: Path, split: str | None, splits: list[str]) -> str:
    if split is not None:
        if split not in splits:
            raise BadInput(f"{path}: no split '{split}' (splits: {', '.join(splits) or 'none'})")
        return split
    if len(splits) != 1:
        raise BadInput(f"{path}: holds the splits {', '.join(splits)}; choose one with --split")
    return splits[0]


def _data_files(path: Path) -> dict[str, list[str]]:
    """The data files of each split, as `datasets` finds them in a directory (a hub snapshot's layout and the
    configs in its README.md), without reading them or building a cache."""
    import tempfile

    datasets = require("datasets", "hub")
    datasets.disable_progress_bars()
    try:
        with tempfile.TemporaryDirectory(prefix="distill-layout-") as scratch:  # its lock file goes here, not ~/.cache
            builder = datasets.load_dataset_builder(str(path), cache_dir=scratch)
    except Exception as exc:  # datasets raises many kinds for a directory it cannot make a dataset of
        raise BadInput(f"{path}: a directory collect cannot read as a dataset (it holds {_holdings(path)}): "
                       f"{one_line(exc, 160)}; collect reads {ACCEPTED}") from exc
    files = {str(k): [str(f) for f in v] for k, v in (builder.config.data_files or {}).items()}
    usable = {k: v for k, v in files.items() if v and all(file_kind(Path(f)) is not None for f in v)}
    if not usable:
        raise BadInput(f"{path}: a directory without data files collect can read (it holds {_holdings(path)}); "
                       f"collect reads {ACCEPTED}")
    return usable


def _holdings(path: Path) -> str:
    return _names(sorted(p.relative_to(path) for p in path.rglob("*") if p.is_file() and ".git" not in p.parts))


def _names(paths: list[Path], shown: int = 5) -> str:
    if not paths:
        return "nothing"
    more = f" and {len(paths) - shown} more" if len(paths) > shown else ""
    return ", ".join(str(p) for p in paths[:shown]) + more


def _is_glob(text: str) -> bool:
    return any(c in text for c in "*?[")


def read_batches(src: Source, streaming: bool = True) -> Iterator[pl.DataFrame]:
    """Batches of the source's rows; every batch has `__row`, the row's position in the source."""
    offset = 0
    for batch in (_hf_batches(src, streaming) if src.local is None else _local_batches(src.local)):
        yield batch.with_row_index("__row", offset=offset)
        offset += batch.height


def _local_batches(local: Local) -> Iterator[pl.DataFrame]:
    if local.saved is not None:
        datasets = require("datasets", "hub")
        try:
            yield datasets.load_from_disk(str(local.saved)).to_polars()
        except Exception as exc:  # a damaged save_to_disk directory fails in many ways inside datasets
            raise BadInput(f"{local.saved}: cannot load the saved dataset: {one_line(exc, 200)}") from exc
        return
    for path in local.files:
        yield read_file(path)


def _hf_batches(src: Source, streaming: bool) -> Iterator[pl.DataFrame]:
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
