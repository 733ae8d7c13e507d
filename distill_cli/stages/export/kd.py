"""export --format kd: token-level records for sparse knowledge distillation from a teacher's stored top-K.

One record per trace, every list aligned to the positions of `input_ids` (the rendered prompt, then the
completion), the way `labels` are aligned in a Hugging Face causal LM:

    input_ids       list<int32>                       prompt + completion tokens (L)
    completion_mask list<int8>                        1 where the token is a completion token (the ones to learn)
    topk_ids        list<fixed_size_list<int32>[K]>   at position t: the teacher's K most likely tokens for
                                                      position t, given input_ids[:t]; zeros where mask is 0
    topk_logprobs   list<fixed_size_list<f32|f16>[K]> their log-probabilities (best first); -inf where mask is 0

The student's logits at t-1 are scored against the teacher's top-K at t (see docs/kd.md). The top-K come from
`score --logprobs K` (`teacher_topk_*`) when present, else from `generate --logprobs K` (`topk_*`).
"""

from __future__ import annotations

import polars as pl

from distill_cli.errors import BadInput

KD_META = ("id", "sample", "model")
SOURCES = (("teacher_topk_ids", "teacher_topk_logprobs"), ("topk_ids", "topk_logprobs"))


def topk_source(schema: dict, where: str) -> tuple[str, str, int]:
    """The top-K columns to export and K; an input without them, or without token ids, is refused by name."""
    for ids, lps in SOURCES:
        if ids in schema and lps in schema:
            dtype = schema[ids]
            inner = getattr(dtype, "inner", None)
            if not isinstance(dtype, pl.List) or not isinstance(inner, pl.Array):
                raise BadInput(f"{where}: column {ids} has type {dtype}, expected list<array<int32, K>>")
            for need in ("prompt_token_ids", "token_ids"):
                if need not in schema:
                    raise BadInput(f"{where}: missing column '{need}' needed by export --format kd")
            return ids, lps, inner.size
    raise BadInput(f"{where}: no top-K columns (teacher_topk_ids/_logprobs or topk_ids/_logprobs); run `distill "
                   "score --logprobs K` or `distill generate --logprobs K` first")


def kd_columns(ids: str, lps: str, k: int, lp_type: pl.DataType) -> list[pl.Expr]:
    prompt_len = pl.col("prompt_token_ids").list.len()
    pad_ids = pl.lit(pl.Series([[0] * k], dtype=pl.Array(pl.Int32, k))).first()
    pad_lps = pl.lit(pl.Series([[float("-inf")] * k], dtype=pl.Array(lp_type, k))).first()
    return [
        pl.concat_list("prompt_token_ids", "token_ids").cast(pl.List(pl.Int32)).alias("input_ids"),
        pl.concat_list(pl.lit(0, pl.Int8).repeat_by(prompt_len),
                       pl.lit(1, pl.Int8).repeat_by(pl.col("token_ids").list.len())).alias("completion_mask"),
        pl.concat_list(pad_ids.repeat_by(prompt_len), pl.col(ids)).alias("topk_ids"),
        pl.concat_list(pad_lps.repeat_by(prompt_len), pl.col(lps)).alias("topk_logprobs"),
    ]


def kd_frame(lf: pl.LazyFrame, meta: bool = True, limit: int | None = None, where: str = "input"
             ) -> tuple[pl.LazyFrame, pl.LazyFrame, dict]:
    """(records, the rows they came from, stats): rows without top-K (failed or unscored traces) are left out and
    counted; a row whose top-K and token ids differ in length is a broken input and stops the export."""
    schema = dict(lf.collect_schema())
    ids, lps, k = topk_source(schema, where)
    lp_type = schema[lps].inner.inner
    has = pl.col(ids).is_not_null() & pl.col("token_ids").is_not_null() & pl.col("prompt_token_ids").is_not_null()
    counts = lf.select(total=pl.len(), missing=(~has).sum(),
                       bad=(has & (pl.col(ids).list.len() != pl.col("token_ids").list.len())).sum()).collect()
    if counts["bad"][0]:
        raise BadInput(f"{where}: {counts['bad'][0]} row(s) have a {ids} list of another length than token_ids; "
                       "re-run the stage that wrote them")
    used = lf.filter(has)
    used = used.head(limit) if limit is not None else used
    cols = [pl.col(c) for c in KD_META if c in schema] if meta else []
    source = "score" if ids.startswith("teacher_") else "generate"
    stats = {"k": k, "source": source, "without_topk": int(counts["missing"][0])}
    return used.select(*cols, *kd_columns(ids, lps, k, lp_type)), used, stats
