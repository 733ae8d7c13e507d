"""Near-dedupe state on disk: LSH band keys one file per band, signatures one row per unit, written a chunk of
units at a time, so memory holds one band (or one chunk) at a time rather than every signature of the input.

A band file is 8 bytes per unit (80 MB at 10M units), read whole when its buckets are sorted. The signature
file (2 bytes x num_perm per unit, 2.5 GB at 10M units) is memory-mapped for verification, its pages released
after every batch of pairs (MADV_DONTNEED): they stay in the page cache, not in the stage's resident memory, which
holds at most one batch's pages. Reading it into memory below 1 GiB made 4M prompts peak at 2.5 GB (1 GB of it
signatures) against 1.3 GB mapped, for the same verification time (candidate pairs are few: ~0.1 per unit).
"""

from __future__ import annotations

import mmap
import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import numpy as np
import polars as pl

from distill_cli.stages.dedupe import lsh, minhash

VERIFY_BATCH = 32_768
THREADS = min(2, os.cpu_count() or 1)  # numpy releases the GIL in the MinHash loops: batches sketch in parallel


class NearSpill:
    """Band keys and signatures of units, appended in unit order (near.add), read back by band."""

    def __init__(self, directory: Path, bands: int, rows: int, num_perm: int, shingle: int = 3, seed: int = 1):
        directory.mkdir(parents=True, exist_ok=True)
        self.directory, self.bands, self.rows, self.num_perm = directory, bands, rows, num_perm
        self.shingle, self.seed = shingle, seed
        self.units = 0
        self._pool: ThreadPoolExecutor | None = None
        self._pending: deque[Future] = deque()
        self._keys = [open(self._band_path(b), "wb") for b in range(bands)]  # noqa: SIM115 (closed in finish)
        self._sig = open(directory / "signatures.u16", "wb")  # noqa: SIM115
        self._map: mmap.mmap | None = None

    def _band_path(self, band: int) -> Path:
        return self.directory / f"band-{band:03d}.u64"

    def add_texts(self, norm: pl.Series) -> None:
        """Sketch the next units' normalized texts on a worker thread; written in order, THREADS batches behind
        (memory: a few batches of texts and signatures). On 2 cores the main thread reads and normalizes the next
        batch while the workers hash."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(THREADS, thread_name_prefix="minhash")
        self._pending.append(self._pool.submit(self._sketch, norm))
        while len(self._pending) > THREADS:
            self._write(*self._pending.popleft().result())

    def _sketch(self, norm: pl.Series) -> tuple[np.ndarray, np.ndarray]:
        return minhash.sketch(norm, self.shingle, self.num_perm, self.seed, self.bands, self.rows)

    def add(self, sig: np.ndarray) -> None:
        """sig: (num_perm, units) signatures of the next units."""
        self._write(np.ascontiguousarray(sig.T), lsh.band_keys(sig, self.bands, self.rows))

    def _write(self, by_unit: np.ndarray, keys: np.ndarray) -> None:
        """by_unit: (units, num_perm) signatures; keys: (bands, units)."""
        for band, fh in enumerate(self._keys):
            keys[band].tofile(fh)
        by_unit.tofile(self._sig)
        self.units += by_unit.shape[0]

    def finish(self) -> None:
        """Write what the workers still hold, then close the files (a second call does nothing)."""
        while self._pending and not self._sig.closed:
            self._write(*self._pending.popleft().result())
        for fh in [*self._keys, self._sig]:
            fh.close()

    def band(self, band: int, subset: np.ndarray) -> np.ndarray:
        """One band's keys of the units at the sorted positions `subset` (every unit: no gather)."""
        keys = np.fromfile(self._band_path(band % self.bands), np.uint64)
        return keys if len(subset) == len(keys) else keys[subset]

    def jaccard(self, i: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Estimated Jaccard of unit pairs (positions among all units), reading only the rows they need."""
        out = np.empty(len(i), np.float64)
        if not len(i):
            return out
        if self._map is None:
            with open(self.directory / "signatures.u16", "rb") as fh:
                self._map = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        by_unit = np.frombuffer(self._map, np.uint16).reshape(self.units, self.num_perm)
        for s in range(0, len(i), VERIFY_BATCH):
            equal = by_unit[i[s:s + VERIFY_BATCH]] == by_unit[j[s:s + VERIFY_BATCH]]
            out[s:s + VERIFY_BATCH] = np.count_nonzero(equal, axis=1) / self.num_perm
            self._map.madvise(mmap.MADV_DONTNEED)
        return out

    def close(self) -> None:
        for future in self._pending:
            future.cancel()
        self._pending.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self._map is not None:
            self._map.close()
            self._map = None
