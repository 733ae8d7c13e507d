"""The output side of a stage: manifest, atomic shards, resume and conflict detection.

A shard is finished when `part-NNNNN.parquet` exists; its row count and stats live in its own footer, so the
completion mark and the data are one atomic rename. `_manifest.json` says `complete: true` only when every
shard exists, and `_stats.json` sums the shards' stats.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from distill_cli import __version__
from distill_cli.errors import BadInput, StageConflict
from distill_cli.stagedir.atomic import (
    create_json,
    is_temp,
    read_footer_metadata,
    remove_stale_temps,
    write_json,
    write_parquet,
    write_parquet_stream,
)
from distill_cli.stagedir.inputs import MANIFEST, parquet_rows

STATS = "_stats.json"
WORK = "_work"
STATS_KEY = "distill.stats"


def params_hash(params: dict) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()[:16]


def shard_name(index: int) -> str:
    return f"part-{index:05d}.parquet"


def merge_stats(total: dict, part: dict) -> dict:
    """Sum numbers key by key, recursively; other values keep the latest."""
    for key, value in part.items():
        if isinstance(value, dict):
            merge_stats(total.setdefault(key, {}), value)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            total[key] = total.get(key, 0) + value
        else:
            total[key] = value
    return total


def _leaves(params: object, path: tuple = ()) -> dict[tuple, object]:
    if isinstance(params, dict) and params:
        return {k: v for key, value in params.items() for k, v in _leaves(value, (*path, str(key))).items()}
    return {path: params}


def _shown(value: object, absent: bool = False) -> str:
    if absent:
        return "(unset)"
    if value is None:
        return "none"
    plain = isinstance(value, str) and re.fullmatch(r"[\w.,:/+-]+", value)
    text = value if plain else json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def param_changes(old: dict, new: dict, limit: int = 6) -> list[str]:
    """`temperature 0.6 -> 0.7` for each param that differs, named by its option (the leaf of nested params),
    so a conflict says what to change back rather than which group of params moved."""
    before, after = _leaves(old), _leaves(new)
    as_json = {p: (json.dumps(before.get(p), default=str), json.dumps(after.get(p), default=str))
               for p in before.keys() | after.keys()}
    paths = sorted(p for p, (b, a) in as_json.items() if p not in before or p not in after or b != a)
    leaves = Counter(p[-1] for p in paths if p)
    out = []
    for p in paths[:limit]:
        name = p[-1] if p and leaves[p[-1]] == 1 else ".".join(p)
        out.append(f"{name} {_shown(before.get(p), p not in before)} -> {_shown(after.get(p), p not in after)}")
    if len(paths) > limit:
        out.append(f"and {len(paths) - limit} more")
    return out


@dataclass
class StageDir:
    path: Path
    stage: str
    params: dict
    inputs: list[dict]
    n_shards: int
    upstream: list[str] = field(default_factory=list)
    was_complete: bool = False  # open() found this very run complete: a re-run has nothing to do
    written: dict[int, int] = field(default_factory=dict)  # shard -> rows, the shards this process wrote
    _created: bool = False

    @property
    def hash(self) -> str:
        return params_hash({"stage": self.stage, "params": self.params})

    def open(self, overwrite: bool = False) -> StageDir:
        """Create the directory, or check that the run in it is this run; --overwrite clears it.

        Shard tasks of one stage may start at the same moment (a Slurm array): each may find the directory just
        made by a sibling, with its manifest not yet written, and exactly one creates the manifest; every other
        task checks it. A directory holding anything else without a manifest is not ours to write into.
        """
        if self.path.exists():
            remove_stale_temps(self.path)  # a run killed before its first manifest leaves at most this temp file
            if overwrite:
                self.clear()
        try:
            self.path.mkdir(parents=True)
            self._created = True
        except FileExistsError:
            if not self.path.is_dir():
                raise StageConflict(f"{self.path}: exists and is not a directory") from None
            self._check_not_foreign(overwrite)
        if create_json(self.path / MANIFEST, self._manifest(complete=False)):
            return self
        old = self.read_manifest()
        conflict = self._conflict(old)
        if conflict:
            raise StageConflict(f"{self.path}: {conflict}; pass --overwrite to replace it")
        self.was_complete = bool(old.get("complete")) and all(map(self.done, range(old.get("n_shards", 0))))
        if old.get("complete") and not self.was_complete:  # a shard went missing: say so until it is redone
            self._write_manifest(complete=False)
        return self

    def _check_not_foreign(self, overwrite: bool) -> None:
        """Only temp files (a sibling task writing the manifest) may sit in a stage directory without a manifest."""
        others = [p.name for p in self.path.iterdir() if not is_temp(p.name)]
        if others and not (self.path / MANIFEST).exists():
            if not overwrite:
                raise StageConflict(f"{self.path}: exists and is not a distill stage directory")
            self.clear()

    def _conflict(self, old: dict) -> str | None:
        if old.get("stage") != self.stage:
            return f"holds the output of `{old.get('stage')}`, not `{self.stage}`"
        if old.get("params_hash") != self.hash:
            changed = param_changes(old.get("params") or {}, self.params)
            return f"holds a {self.stage} run with other params (changed: {'; '.join(changed) or 'params'})"
        if [i["digest"] for i in old.get("inputs", [])] != [i["digest"] for i in self.inputs]:
            return f"holds a {self.stage} run over other inputs (the input changed since)"
        return None

    def clear(self) -> None:
        if not self.path.exists():
            return
        for child in self.path.iterdir():
            if child.is_dir():
                shutil.rmtree(child)
            else:
                child.unlink()

    def read_manifest(self) -> dict:
        try:
            return json.loads((self.path / MANIFEST).read_text())
        except (json.JSONDecodeError, OSError) as exc:
            raise BadInput(f"{self.path / MANIFEST}: unreadable manifest ({exc}); pass --overwrite") from exc

    def shard_path(self, index: int) -> Path:
        return self.path / shard_name(index)

    def done(self, index: int) -> bool:
        return self.shard_path(index).exists()

    def work_dir(self, index: int) -> Path:
        return self.path / WORK / f"part-{index:05d}"

    def write_shard(self, index: int, df: pl.DataFrame, stats: dict | None = None) -> None:
        write_parquet(self.shard_path(index), df, {STATS_KEY: json.dumps(stats or {})})
        self.written[index] = df.height
        shutil.rmtree(self.work_dir(index), ignore_errors=True)

    def write_shard_stream(self, index: int, schema: pl.Schema, frames: Iterable[pl.DataFrame],
                           stats: dict | None = None) -> None:
        rows = write_parquet_stream(self.shard_path(index), schema, frames, {STATS_KEY: json.dumps(stats or {})})
        self.written[index] = rows

    def shard_stats(self, index: int) -> dict:
        raw = read_footer_metadata(self.shard_path(index)).get(STATS_KEY, "{}")
        return json.loads(raw)

    def finish(self, extra_stats: dict | None = None) -> bool:
        """Mark the run complete when every shard exists; returns whether it is complete.

        With shards missing the manifest is left as it is: it says incomplete already, and a sibling shard task
        that has just written the last shard may have marked the run complete meanwhile.
        """
        if not all(map(self.done, range(self.n_shards))):
            return False
        stats: dict = {}
        rows = {}
        for i in range(self.n_shards):
            merge_stats(stats, self.shard_stats(i))
            rows[shard_name(i)] = parquet_rows(self.shard_path(i))
        merge_stats(stats, extra_stats or {})
        stats["rows_out"] = sum(rows.values())
        write_json(self.path / STATS, stats)
        shutil.rmtree(self.path / WORK, ignore_errors=True)
        self._write_manifest(complete=True, shards=rows, stats=stats)
        return True

    def abandon(self) -> None:
        """After a failure: remove the directory if this run created it and saved nothing in it.

        Checkpoint chunks count as saved work: a first run interrupted before its first whole shard keeps them.
        """
        saved = any(self.path.glob("part-*.parquet")) or any((self.path / WORK).glob("*/chunk-*.parquet"))
        if self._created and not saved:
            shutil.rmtree(self.path, ignore_errors=True)

    def _write_manifest(self, complete: bool, shards: dict | None = None, stats: dict | None = None) -> None:
        write_json(self.path / MANIFEST, self._manifest(complete, shards, stats))

    def _manifest(self, complete: bool, shards: dict | None = None, stats: dict | None = None) -> dict:
        return {
            "stage": self.stage,
            "distill_version": __version__,
            "params": self.params,
            "params_hash": self.hash,
            "inputs": self.inputs,
            "upstream": self.upstream,
            "n_shards": self.n_shards,
            "shards": shards or {},
            "rows": sum((shards or {}).values()),
            "stats": stats or {},
            "complete": complete,
            "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
