"""Token log-probabilities as arrays and as Arrow columns a trainer reads without Python loops.

vLLM returns, with `flat_logprobs=True`, one flat list per request: for every position the logprob of the token
that is there (sampled, or given in the prompt) followed by the model's top-K, K+1 entries a position. That is
reshaped here with numpy, never walked token by token, and stored per trace as

    token_ids       list<int32>                   the tokens (n)
    token_logprobs  list<float32>                 their log-probabilities (n)
    topk_ids        list<fixed_size_list<int32>[K]>   the model's K most likely tokens at each position (n x K)
    topk_logprobs   list<fixed_size_list<f16|f32>[K]> their log-probabilities, best first

so `pyarrow` `.flatten().flatten().to_numpy().reshape(-1, K)` is the whole read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

LogprobDtype = Literal["float32", "float16"]
LOGPROB_DTYPES: tuple[str, ...] = LogprobDtype.__args__
COLUMNS = ("token_ids", "token_logprobs", "topk_ids", "topk_logprobs")
PROMPT_IDS = "prompt_token_ids"


@dataclass(frozen=True)
class TokenLogprobs:
    """One sequence's tokens, their logprobs and the top-K at each position (k may be 0: no top-K)."""

    token_ids: np.ndarray  # int32 [n]
    logprobs: np.ndarray  # float32 [n]
    topk_ids: np.ndarray  # int32 [n, k]
    topk_logprobs: np.ndarray  # float32 [n, k]
    prompt_ids: np.ndarray | None = None  # int32 [p]: the rendered prompt, when known

    @property
    def k(self) -> int:
        return int(self.topk_ids.shape[1])


def from_flat(token_ids: Sequence[int], flat_ids: Sequence[int], flat_logprobs: Sequence[float], k: int,
              prompt_ids: Sequence[int] | None = None) -> TokenLogprobs:
    """A flat K+1-per-position block (the token itself first, then the top-K) as arrays.

    The token's own logprob is taken from the block, not recomputed; its id must be the block's first entry,
    which is checked here rather than trusted (a mismatch means the positions are misaligned)."""
    n = len(token_ids)
    ids = np.asarray(flat_ids, dtype=np.int64).reshape(n, k + 1)
    lps = np.asarray(flat_logprobs, dtype=np.float32).reshape(n, k + 1)
    toks = np.asarray(token_ids, dtype=np.int32)
    if n and not np.array_equal(ids[:, 0], toks):
        raise ValueError("logprob positions do not line up with the tokens")
    return TokenLogprobs(toks, lps[:, 0].copy(), ids[:, 1:].astype(np.int32), lps[:, 1:].copy(),
                         None if prompt_ids is None else np.asarray(prompt_ids, dtype=np.int32))


def vllm_flat(logprobs, start: int, end: int) -> tuple[list[int], list[float]]:
    """Entries of positions [start, end) of a vLLM `FlatLogprobs`."""
    if end <= start:
        return [], []
    lo, hi = logprobs.start_indices[start], logprobs.end_indices[end - 1]
    return logprobs.token_ids[lo:hi], logprobs.logprobs[lo:hi]


def check_k(k: int, vocab: int, option: str = "--logprobs") -> None:
    """K above the vocabulary cannot be served by any engine: a usage error before any request."""
    from distill_cli.errors import BadInput

    if k > vocab:
        raise BadInput(f"{option} {k}: above the model's vocabulary of {vocab} tokens")


def max_logprobs_arg(k: int | None, engine_args: dict, option: str = "--logprobs") -> dict:
    """The engine arguments a run with top-K needs: vLLM refuses K above its `max_logprobs` (default 20), so that
    is raised to K, unless the user set it lower, which is refused here rather than row by row."""
    from distill_cli.errors import BadInput

    if k is None:
        return dict(engine_args)
    given = engine_args.get("max_logprobs")
    if given is not None and given != -1 and given < k:
        raise BadInput(f"{option} {k}: above --engine-arg max_logprobs={given}, the most the engine allows")
    return dict(engine_args) if given is not None or k <= 20 else {**engine_args, "max_logprobs": k}


def summary(logprobs: np.ndarray) -> tuple[int, float | None, float | None, float | None]:
    """Token count, sum and mean logprob, perplexity (exp of minus the mean) of one sequence."""
    n = int(logprobs.shape[0])
    if n == 0:
        return 0, None, None, None
    total = float(logprobs.astype(np.float64).sum())
    mean = total / n
    return n, total, mean, float(np.exp(-mean))


# ---- Arrow columns ------------------------------------------------------------------------------------------------

def _offsets(lengths: Sequence[int | None]):
    import pyarrow as pa

    lens = np.asarray([0 if v is None else v for v in lengths], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    mask = np.asarray([v is None for v in lengths])
    return pa.array(offsets, pa.int64()), (pa.array(mask) if mask.any() else None)


def list_column(values: Sequence[np.ndarray | None], arrow_type):
    """Rows of 1-d arrays (None: a null row) as one `large_list<arrow_type>` array."""
    import pyarrow as pa

    parts = [v for v in values if v is not None]
    flat = np.concatenate(parts) if parts else np.zeros(0)
    offsets, mask = _offsets([None if v is None else len(v) for v in values])
    return pa.LargeListArray.from_arrays(offsets, pa.array(flat, arrow_type), mask=mask)


def topk_column(values: Sequence[np.ndarray | None], k: int, arrow_type):
    """Rows of [n, k] arrays as `large_list<fixed_size_list<arrow_type>[k]>`: one list of k per token."""
    import pyarrow as pa

    parts = [v.reshape(-1) for v in values if v is not None]
    flat = np.concatenate(parts) if parts else np.zeros(0)
    inner = pa.FixedSizeListArray.from_arrays(pa.array(flat, arrow_type), k)
    offsets, mask = _offsets([None if v is None else v.shape[0] for v in values])
    return pa.LargeListArray.from_arrays(offsets, inner, mask=mask)


def arrow_type(dtype: str):
    import pyarrow as pa

    return pa.float16() if dtype == "float16" else pa.float32()


def columns(rows: Sequence[TokenLogprobs | None], k: int, dtype: str = "float32", prefix: str = "",
            with_ids: bool = True) -> dict:
    """The logprob columns of these rows as polars Series (a None row: nulls). `prefix` names a scoring model's
    columns (`teacher_logprobs`, ...); the token ids are written once, unprefixed, when `with_ids`."""
    import polars as pl
    import pyarrow as pa

    lp_type = arrow_type(dtype)
    out: dict[str, pl.Series] = {}
    if with_ids:
        out["token_ids"] = list_column([r.token_ids if r else None for r in rows], pa.int32())
        out[PROMPT_IDS] = list_column([r.prompt_ids if r is not None else None for r in rows], pa.int32())
    name = f"{prefix}logprobs" if prefix else "token_logprobs"
    out[name] = list_column([r.logprobs if r else None for r in rows], pa.float32())
    if k > 0:
        cast = np.float16 if dtype == "float16" else np.float32
        out[f"{prefix}topk_ids"] = topk_column([r.topk_ids if r else None for r in rows], k, pa.int32())
        out[f"{prefix}topk_logprobs"] = topk_column(
            [r.topk_logprobs.astype(cast) if r else None for r in rows], k, lp_type)
    return {key: pl.Series(key, arr) for key, arr in out.items()}


def topk_arrays(table_column, k: int) -> np.ndarray:
    """A `list<fixed_size_list[k]>` column back to one [tokens, k] numpy array (every row's tokens in order)."""
    import pyarrow as pa

    col = table_column.combine_chunks() if isinstance(table_column, pa.ChunkedArray) else table_column
    return col.flatten().flatten().to_numpy(zero_copy_only=False).reshape(-1, k)


def stored_bytes(paths: Sequence, names: Sequence[str]) -> dict[str, int]:
    """Compressed bytes each named column takes in these Parquet files (read from the footers, not the data)."""
    import pyarrow.parquet as pq

    out = dict.fromkeys(names, 0)
    for path in paths:
        meta = pq.ParquetFile(path).metadata
        for g in range(meta.num_row_groups):
            group = meta.row_group(g)
            for c in range(group.num_columns):
                col = group.column(c)
                top = col.path_in_schema.split(".")[0]
                if top in out:
                    out[top] += col.total_compressed_size
    return out


def size_stats(paths: Sequence, tokens: int, prefix: str = "") -> dict:
    """`_stats.json`'s logprob sizes: on-disk bytes of the per-token columns, per completion token."""
    names = ["token_ids", f"{prefix}logprobs" if prefix else "token_logprobs", f"{prefix}topk_ids",
             f"{prefix}topk_logprobs"]
    sizes = stored_bytes(paths, [*names, PROMPT_IDS])
    per_token = sum(sizes[n] for n in names)
    return {"completion_tokens": tokens, "bytes": per_token, "prompt_ids_bytes": sizes[PROMPT_IDS],
            "bytes_per_token": round(per_token / tokens, 3) if tokens else None}
