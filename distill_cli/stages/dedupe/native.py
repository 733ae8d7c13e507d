"""The MinHash kernel in C (sketch.c), built once per machine with the system's C compiler and loaded with ctypes.

numpy's MinHash makes a (permutations x shingles) temporary for every block of documents and an n-gram array
for every chunk; the kernel computes each shingle's hash and its permutations' minima in registers, about 8x
less CPU for the same signatures, bit for bit (tests/stages/dedupe/test_native.py compares them on real text).
Without a C compiler, or when the build fails, `kernel()` is None and minhash.py keeps its numpy path.

The library is cached under DISTILL_HOME/native/<key>/, the key a digest of the source, the compiler's version
and the flags, so a changed kernel or compiler builds anew. A build runs once at a time (a lock file) and is
written under a temporary name and renamed: a killed build leaves nothing half written.
"""

from __future__ import annotations

import ctypes
import fcntl
import hashlib
import os
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

import numpy as np

SOURCE = Path(__file__).with_name("sketch.c")
FLAGS = ("-O3", "-shared", "-fPIC")
BUILD_SECONDS = 120


def _ptr(arr: np.ndarray, kind) -> ctypes._Pointer:  # type: ignore[name-defined]
    return arr.ctypes.data_as(ctypes.POINTER(kind))


_U64, _I64, _U32, _U16 = (ctypes.POINTER(t) for t in (ctypes.c_uint64, ctypes.c_int64, ctypes.c_uint32,
                                                          ctypes.c_uint16))
_DOCS = [_U64, _I64, ctypes.c_int64, _U64, _U64, ctypes.c_int, _U32, _U32, ctypes.c_int]  # what both functions take


class Kernel:
    """The loaded library over numpy arrays (C-contiguous, in the dtypes sketch.c names)."""

    def __init__(self, lib: ctypes.CDLL):
        self._minhash, self._sketch = lib.minhash_docs, lib.sketch_docs
        self._minhash.restype = self._sketch.restype = ctypes.c_int
        self._minhash.argtypes = [*_DOCS, _U16]
        self._sketch.argtypes = [*_DOCS, _U64, ctypes.c_int, ctypes.c_int, _U16, _U64]

    @staticmethod
    def _docs(words, offsets, whole, coef, a, b) -> list:
        arrays = [np.ascontiguousarray(words, np.uint64), np.ascontiguousarray(offsets, np.int64),
                  np.ascontiguousarray(whole, np.uint64), np.ascontiguousarray(coef, np.uint64),
                  np.ascontiguousarray(a, np.uint32), np.ascontiguousarray(b, np.uint32)]
        w, o, wh, c, pa, pb = arrays
        return [arrays, _ptr(w, ctypes.c_uint64), _ptr(o, ctypes.c_int64), len(o) - 1, _ptr(wh, ctypes.c_uint64),
                _ptr(c, ctypes.c_uint64), len(c), _ptr(pa, ctypes.c_uint32), _ptr(pb, ctypes.c_uint32), len(pa)]

    def minhash(self, words: np.ndarray, offsets: np.ndarray, whole: np.ndarray, coef: np.ndarray,
                a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Signatures (len(a), docs) as uint16; see sketch.c for the arithmetic."""
        keep, *args = self._docs(words, offsets, whole, coef, a, b)
        out = np.empty((len(a), len(offsets) - 1), np.uint16)
        if out.size and self._minhash(*args, _ptr(out, ctypes.c_uint16)) != 0:
            raise MemoryError("MinHash kernel: could not allocate its scratch buffers")
        return out

    def sketch(self, words: np.ndarray, offsets: np.ndarray, whole: np.ndarray, coef: np.ndarray,
               a: np.ndarray, b: np.ndarray, band_coef: np.ndarray, bands: int, rows: int
               ) -> tuple[np.ndarray, np.ndarray]:
        """(signatures one row per document (docs, len(a)) uint16, LSH keys (bands, docs) uint64)."""
        keep, *args = self._docs(words, offsets, whole, coef, a, b)
        docs = len(offsets) - 1
        band_coef = np.ascontiguousarray(band_coef, np.uint64)
        by_doc, keys = np.empty((docs, len(a)), np.uint16), np.empty((bands, docs), np.uint64)
        if docs and self._sketch(*args, _ptr(band_coef, ctypes.c_uint64), bands, rows,
                                 _ptr(by_doc, ctypes.c_uint16), _ptr(keys, ctypes.c_uint64)) != 0:
            raise MemoryError("MinHash kernel: could not allocate its scratch buffers")
        return by_doc, keys


@lru_cache(maxsize=1)
def kernel() -> Kernel | None:
    """The built and loaded kernel, or None when no C compiler can build it (then minhash.py uses numpy)."""
    try:
        path = _library()
        return Kernel(ctypes.CDLL(str(path))) if path is not None else None
    except (OSError, subprocess.SubprocessError, AttributeError):
        return None


def _library() -> Path | None:
    compiler = shutil.which("gcc") or shutil.which("cc")
    if compiler is None:
        return None
    from distill_cli.model import distill_home

    source = SOURCE.read_bytes()
    version = subprocess.run([compiler, "--version"], capture_output=True, timeout=30).stdout
    key = hashlib.sha256(source + b"\0" + version + b"\0" + " ".join(FLAGS).encode()).hexdigest()[:16]
    path = distill_home() / "native" / key / "sketch.so"
    if not path.is_file():
        _build(compiler, source, path)
    return path if path.is_file() else None


def _build(compiler: str, source: bytes, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.is_file():
            return
        src, out = path.parent / f"sketch.{os.getpid()}.tmp.c", path.parent / f"sketch.{os.getpid()}.tmp.so"
        try:
            src.write_bytes(source)
            subprocess.run([compiler, *FLAGS, "-o", str(out), str(src)], check=True, capture_output=True,
                           timeout=BUILD_SECONDS)
            os.replace(out, path)
        finally:
            src.unlink(missing_ok=True)
            out.unlink(missing_ok=True)
