"""Checkpoints inside a shard: finished rows are saved a chunk at a time, so a kill loses one chunk at most.

Chunks live in `_work/part-NNNNN/chunk-NNNNNN.parquet`, each written atomically. When the shard is whole the
stage concatenates them into the shard file and the work directory goes away.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from distill_cli.stagedir.atomic import write_parquet


class ShardCheckpoint:
    def __init__(self, work_dir: Path):
        self.work_dir = work_dir

    def chunks(self) -> list[Path]:
        return sorted(self.work_dir.glob("chunk-*.parquet")) if self.work_dir.exists() else []

    def load(self) -> pl.DataFrame | None:
        """Every finished row so far, in the order it was saved; None when nothing was saved."""
        files = self.chunks()
        if not files:
            return None
        return pl.concat([pl.read_parquet(f) for f in files], how="diagonal_relaxed")

    def done_keys(self, columns: list[str]) -> set[tuple]:
        files = self.chunks()
        if not files:
            return set()
        keys = pl.concat([pl.read_parquet(f, columns=columns) for f in files])
        return set(keys.iter_rows())

    def append(self, df: pl.DataFrame) -> None:
        if df.height == 0:
            return
        self.work_dir.mkdir(parents=True, exist_ok=True)
        files = self.chunks()
        index = int(files[-1].stem.split("-")[1]) + 1 if files else 0
        write_parquet(self.work_dir / f"chunk-{index:06d}.parquet", df)
