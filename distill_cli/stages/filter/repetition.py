"""Repetition: the share of a trace's word n-grams that repeat an earlier one, and the longest repeated span.

A trace that loops (R1 models caught in "Wait, let me re-check..." cycles) repeats long runs of words verbatim;
clean reasoning almost never repeats 20 words in a row. Both measures come from one vectorized pass over the
UTF-8 bytes of a batch of texts (numpy, no Python loop per row or word). Words are the runs of non-space bytes;
each is hashed from unaligned 8-byte loads of its bytes (one load per 8 bytes, so a word costs a few array
operations, not one per byte), and every window of n words is hashed from the word hashes with a polynomial
prefix sum (arithmetic modulo 2^64, the base odd so it can be divided out). A window repeats when an earlier
window of the same text has the same hash: one sort of the batch's window hashes, each packed with its position,
finds them. Batches bound the memory by the batch, not the shard.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import polars as pl

_WORD_BASE = np.uint64(0x9E3779B97F4A7C15)  # odd, so it is invertible modulo 2^64
_ROW_SALT = np.uint64(0xD6E8FEB86659FD93)
MAX_THREADS = 8  # batches in flight at once: each holds ~40 MB of arrays, so memory stays bounded on big hosts
_LOADS = 32  # 8-byte loads per word hashed in numpy; longer words (URLs, base64: rare) are hashed whole
# _MASK[k] keeps the first k bytes of a little-endian 8-byte load
_MASK = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [(1 << 64) - 1], dtype=np.uint64)


def _inverse(a: int) -> int:
    """The inverse of an odd number modulo 2^64 (Newton's iteration doubles the correct bits each step)."""
    x = a
    for _ in range(6):
        x = (x * (2 - a * x)) % (1 << 64)
    return x


_POWERS: dict[int, np.ndarray] = {}


def _powers(base: np.uint64, n: int) -> np.ndarray:
    """base^0 .. base^(n-1) modulo 2^64 (cumprod wraps like the hardware does); kept and grown across batches,
    since every batch needs about as many."""
    have = _POWERS.get(int(base))
    if have is None or len(have) < n:
        size = max(n, 2 * len(have) if have is not None else 0, 1)
        out = np.full(size, base, dtype=np.uint64)
        out[0] = 1
        with np.errstate(over="ignore"):
            have = _POWERS[int(base)] = np.cumprod(out, dtype=np.uint64)
    return have[:n]


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer (a bijection of 64-bit values that spreads every input bit over the output)."""
    with np.errstate(over="ignore"):
        h = (h ^ (h >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        h = (h ^ (h >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return h ^ (h >> np.uint64(31))


def window_hashes(word_hash: np.ndarray, n: int) -> np.ndarray:
    """Hash of every window of n consecutive words: sum_j word[start+j] * base^j (mod 2^64), from a prefix sum."""
    m = len(word_hash) - n + 1
    if m <= 0:
        return np.empty(0, np.uint64)
    with np.errstate(over="ignore"):
        prefix = np.zeros(len(word_hash) + 1, np.uint64)
        np.cumsum(word_hash * _powers(_WORD_BASE, len(word_hash)), dtype=np.uint64, out=prefix[1:])
        inverse = _powers(np.uint64(_inverse(int(_WORD_BASE))), m)
        return (prefix[n:] - prefix[:m]) * inverse


def _bounds(data: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and stop byte of every word: runs of bytes other than ASCII whitespace, cut at the rows' ends."""
    space = (np.subtract(data, 9, dtype=np.uint8) <= 4) | (data == 32)  # \t \n \v \f \r and " "
    edge = np.diff(space.view(np.int8), prepend=np.int8(1), append=np.int8(1))  # -1: a word starts, 1: it stops
    starts, stops = np.flatnonzero(edge == -1), np.flatnonzero(edge == 1)
    inner = np.unique(offsets[1:-1])
    inner = inner[(inner > 0) & (inner < len(data))]
    cross = inner[~space[inner - 1] & ~space[inner]]  # a word running over a row's end is two words
    return (np.insert(starts, np.searchsorted(starts, cross), cross),
            np.insert(stops, np.searchsorted(stops, cross), cross))


def _word_hashes(data: np.ndarray, starts: np.ndarray, stops: np.ndarray) -> np.ndarray:
    """A 64-bit hash of every word's bytes and length, from 8-byte loads at every 8th byte of the word."""
    padded = np.zeros(len(data) + 8, np.uint8)
    padded[: len(data)] = data
    loads = np.ndarray((len(data) + 1,), np.uint64, padded, 0, (1,))  # the 8 bytes from every offset
    length = (stops - starts).astype(np.uint64)
    with np.errstate(over="ignore"):
        h = _mix((loads[starts] & _MASK[np.minimum(length, 8)]) ^ (length * _ROW_SALT))
        longer = np.flatnonzero(length > 8)
        for j in range(1, _LOADS):
            if not len(longer):
                break
            left = length[longer] - np.uint64(8 * j)
            h[longer] = _mix(h[longer] * _WORD_BASE + (loads[starts[longer] + 8 * j] & _MASK[np.minimum(left, 8)]))
            longer = longer[left > 8]
    for i in longer:  # words longer than 8 * _LOADS bytes: their whole bytes, once each
        digest = hashlib.blake2b(data[starts[i]: stops[i]].tobytes(), digest_size=8).digest()
        h[i] ^= np.uint64(int.from_bytes(digest, "little"))
    return h


def words(texts: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """(row, hash) of every whitespace-separated word of the texts, in order."""
    arr = texts.fill_null("").cast(pl.String).to_arrow()
    if arr.type != "large_string":
        arr = arr.cast("large_string")
    offsets = np.frombuffer(arr.buffers()[1], np.int64)[arr.offset: arr.offset + len(arr) + 1]
    data = np.frombuffer(arr.buffers()[2], np.uint8)[offsets[0]: offsets[-1]]
    offsets = offsets - offsets[0]
    starts, stops = _bounds(data, offsets)
    per_row = np.diff(np.searchsorted(starts, offsets))
    return np.repeat(np.arange(len(texts), dtype=np.int64), per_row), _word_hashes(data, starts, stops)


def repeated(row: np.ndarray, grams: np.ndarray) -> np.ndarray:
    """True for each window whose hash equals that of an earlier window of the same row. One sort of the hashes
    (salted by row), each with its position packed into its low bits, puts equal windows next to each other, the
    first in text order first; each such neighbour is then confirmed on the whole 64-bit hash and the row, so the
    bits given up to the position never make a false repeat."""
    m = len(grams)
    bits = max(int(m - 1).bit_length(), 1)
    low = np.uint64((1 << bits) - 1)
    with np.errstate(over="ignore"):
        key = ((grams ^ (row.astype(np.uint64) * _ROW_SALT)) & ~low) | np.arange(m, dtype=np.uint64)
    key.sort()
    same = np.flatnonzero((key[1:] & ~low) == (key[:-1] & ~low))
    first = (key[same] & low).astype(np.int64)
    later = (key[same + 1] & low).astype(np.int64)
    confirmed = (grams[first] == grams[later]) & (row[first] == row[later])
    dup = np.zeros(m, bool)
    dup[later[confirmed]] = True
    if not confirmed.all():  # windows that share the kept bits but differ: rare, settled one group at a time
        for hi in np.unique(key[same[~confirmed]] & ~low):
            seen: set[tuple[int, int]] = set()
            for i in np.sort((key[(key & ~low) == hi] & low).astype(np.int64)):
                dup[i] = (int(row[i]), int(grams[i])) in seen
                seen.add((int(row[i]), int(grams[i])))
    return dup


def repetition(texts: pl.Series, n: int, batch_rows: int = 512) -> pl.DataFrame:
    """Per text: `repeated_share` (n-grams equal to an earlier n-gram of the same text, over all its n-grams; 0
    for a text shorter than n words) and `repeated_span` (words in the longest run of such n-grams, 0 if none)."""
    starts = range(0, len(texts), batch_rows)
    workers = min(len(starts), len(os.sched_getaffinity(0)), MAX_THREADS)
    if workers > 1:  # numpy releases the GIL in these array operations: batches run on the cores we may use
        with ThreadPoolExecutor(workers) as pool:
            parts = list(pool.map(lambda start: _batch(texts.slice(start, batch_rows), n), starts))
    else:
        parts = [_batch(texts.slice(start, batch_rows), n) for start in starts]
    return pl.concat(parts) if parts else pl.DataFrame(schema={"repeated_share": pl.Float64,
                                                              "repeated_span": pl.Int64})


def _batch(texts: pl.Series, n: int) -> pl.DataFrame:
    rows = len(texts)
    row, word_hash = words(texts)
    grams = window_hashes(word_hash, n)
    inside = row[: len(grams)] == row[n - 1:] if len(grams) else np.empty(0, bool)  # windows within one text
    row, grams = row[: len(grams)][inside], grams[inside]
    total = np.bincount(row, minlength=rows)
    dup = repeated(row, grams) if len(grams) else np.empty(0, bool)
    repeats = np.bincount(row[dup], minlength=rows)
    longest = np.zeros(rows, np.int64)
    at = np.flatnonzero(dup)
    if len(at):  # runs of consecutive repeated windows of one row
        new = np.ones(len(at), bool)
        new[1:] = (at[1:] != at[:-1] + 1) | (row[at[1:]] != row[at[:-1]])
        first = np.flatnonzero(new)
        np.maximum.at(longest, row[at[first]], np.diff(np.append(first, len(at))))
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(total > 0, repeats / np.maximum(total, 1), 0.0)
    return pl.DataFrame({"repeated_share": share.astype(np.float64),
                         "repeated_span": np.where(longest > 0, longest + n - 1, 0).astype(np.int64)})
