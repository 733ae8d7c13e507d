"""The stages a viewer may show: stage directories found by their manifests inside DIR, and nothing else.

A stage is looked up by its name in this catalog, never by joining a requested path onto DIR, so no URL can
reach a file outside DIR. Shards are listed the way every stage lists its input (stagedir/inputs), and only their
footers are read here; row data is read by the queries, lazily.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from distill_cli.errors import BadInput, one_line
from distill_cli.schema import CONTAMINATION, DUPLICATES
from distill_cli.stagedir.inputs import MANIFEST, open_input, parquet_rows

STAGE_ORDER = ("collect", "generate", "verify", "grade", "select", "compress", "score", "filter", "dedupe")
SIDE_FILES = {"duplicates": f"{DUPLICATES}.parquet", "contamination": f"{CONTAMINATION}.parquet"}


@dataclass(frozen=True)
class StageView:
    """One stage directory as the viewer sees it: its shards, their row counts and schema, its side files."""

    name: str
    path: Path
    manifest: dict
    files: tuple[Path, ...]
    rows: tuple[int, ...]
    schema: dict[str, pl.DataType]
    stamp: float  # the manifest's mtime: a re-run stage is listed again

    @property
    def stage(self) -> str:
        return str(self.manifest.get("stage", "?"))

    @property
    def total(self) -> int:
        return sum(self.rows)

    @property
    def complete(self) -> bool:
        return bool(self.manifest.get("complete"))

    @property
    def columns(self) -> list[str]:
        return list(self.schema)

    def scan(self) -> pl.LazyFrame:
        return pl.scan_parquet([str(f) for f in self.files]) if self.files else pl.LazyFrame(schema=self.schema)

    def side_file(self, kind: str) -> Path | None:
        path = self.path / SIDE_FILES[kind]
        return path if path.is_file() else None

    @property
    def upstream(self) -> list[Path]:
        return [Path(p).resolve() for p in self.manifest.get("upstream") or []]


def _shards(path: Path, manifest: dict) -> tuple[tuple[Path, ...], tuple[int, ...], dict]:
    """A complete stage is opened as any stage input is; an unfinished one shows the shards that exist so far."""
    if manifest.get("complete"):
        try:
            inp = open_input(str(path))
            return inp.files, inp.rows, inp.schema
        except BadInput:  # a complete stage with no rows: nothing to page through
            pass
    files = tuple(sorted(path.glob("part-*.parquet")))
    schema = dict(pl.read_parquet_schema(files[0])) if files else {}
    return files, tuple(parquet_rows(f) for f in files), schema


def load(name: str, path: Path) -> StageView | str:
    """The stage, or why it cannot be shown (a damaged manifest or shard): the run page lists it with the reason."""
    manifest_path = path / MANIFEST
    try:
        stamp = manifest_path.stat().st_mtime
        manifest = json.loads(manifest_path.read_text())
        files, rows, schema = _shards(path, manifest)
    except Exception as exc:  # the Parquet and JSON readers raise many types for damaged files
        return one_line(exc)
    return StageView(name, path, manifest, files, rows, schema, stamp)


class Catalog:
    """Stage directories in DIR (DIR itself, or one or two levels down), by URL name; rescanned on demand."""

    def __init__(self, root: Path):
        self.root = root.resolve()
        self._stages: dict[str, StageView] = {}
        self.unreadable: dict[str, str] = {}  # stage name -> why it cannot be shown
        self._lock = threading.Lock()
        self.refresh()

    def _candidates(self) -> dict[str, Path]:
        found: dict[str, Path] = {}
        if (self.root / MANIFEST).is_file():
            found[self.root.name] = self.root
        for pattern in ("*", "*/*"):
            for path in sorted(self.root.glob(pattern)):
                if path.is_dir() and not path.name.startswith((".", "_")) and (path / MANIFEST).is_file():
                    found[path.relative_to(self.root).as_posix()] = path
        return found

    def refresh(self) -> list[StageView]:
        """Re-list the stages, reusing each one whose manifest did not change."""
        with self._lock:
            fresh: dict[str, StageView] = {}
            broken: dict[str, str] = {}
            for name, path in self._candidates().items():
                old = self._stages.get(name)
                try:
                    same = old is not None and old.stamp == (path / MANIFEST).stat().st_mtime
                except OSError:
                    same = False
                view = old if same else load(name, path)
                if isinstance(view, StageView):
                    fresh[name] = view
                else:
                    broken[name] = view
            self._stages, self.unreadable = fresh, broken
            return self.stages()

    def stages(self) -> list[StageView]:
        order = {s: i for i, s in enumerate(STAGE_ORDER)}
        return sorted(self._stages.values(), key=lambda s: (order.get(s.stage, len(order)), s.name))

    def get(self, name: str) -> StageView | None:
        view = self._stages.get(name)
        if view is None or not (view.path / MANIFEST).is_file() or \
                (view.path / MANIFEST).stat().st_mtime != view.stamp:
            self.refresh()
            view = self._stages.get(name)
        return view

    def by_path(self, path: Path) -> StageView | None:
        return next((s for s in self._stages.values() if s.path.resolve() == path), None)

    def downstream(self, view: StageView, stage: str) -> list[StageView]:
        """Stages of kind `stage` that read `view` (e.g. the dedupe run that may have removed its rows)."""
        here = view.path.resolve()
        return [s for s in self.stages() if s.stage == stage and here in s.upstream]
