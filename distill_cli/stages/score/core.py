"""The pure part of score: traces -> the tokens to score, scored tokens -> columns, two roles -> divergence.

No engine and no files: the tokenizer is handed in (the scoring model's own), and every check of a trace names its
column and row, since a wrong token id is silent otherwise (it scores a different text).
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import polars as pl

from distill_cli.engines import logprobs as lp
from distill_cli.engines.render import render_messages
from distill_cli.errors import BadInput
from distill_cli.stages.score.config import ScoreConfig

SUMMARY = ("tokens", "logprob_sum", "logprob_mean", "perplexity")


def summary_schema(prefix: str) -> dict[str, pl.DataType]:
    return {"request_key": pl.String, f"{prefix}tokens": pl.Int64, f"{prefix}logprob_sum": pl.Float64,
            f"{prefix}logprob_mean": pl.Float64, f"{prefix}perplexity": pl.Float64, f"{prefix}error": pl.String}


def trace_request(prompt: str, gen_params: str | None, cfg: ScoreConfig) -> tuple[list[dict], dict]:
    """The chat messages and template kwargs a trace was generated from: as its gen_params record them (generate's
    rendering), else as the score options say (traces made elsewhere)."""
    system, template, kwargs = cfg.system_prompt, cfg.prompt_template, cfg.chat_template_kwargs
    if gen_params:
        try:
            params = json.loads(gen_params)
        except ValueError:
            params = None
        if isinstance(params, dict):
            system, template = params.get("system_prompt"), params.get("prompt_template")
            kwargs = params.get("chat_template_kwargs") or {}
    return list(render_messages(prompt, system, template)), dict(kwargs)


def scorable(df: pl.DataFrame) -> list[bool]:
    """Rows with a completion to score: failed generations (finish_reason error) and empty rows are left null."""
    finish = df["finish_reason"] if "finish_reason" in df.columns else pl.Series([None] * df.height)
    comp = df["completion"]
    return [c is not None and f != "error" for c, f in zip(comp.to_list(), finish.to_list(), strict=True)]


def completion_ids(df: pl.DataFrame, tokenizer, vocab: int, model: str, where: str, first_row: int = 0
                   ) -> list[np.ndarray | None]:
    """The completion tokens of each row: its `token_ids` when it has them (checked against the text and the
    vocabulary), else the completion re-tokenized, with the end-of-sequence token when it stopped on its own."""
    has_ids = "token_ids" in df.columns
    stored = df["token_ids"].to_list() if has_ids else [None] * df.height
    finish = df["finish_reason"].to_list() if "finish_reason" in df.columns else [None] * df.height
    eos = getattr(tokenizer, "eos_token_id", None)
    out: list[np.ndarray | None] = []
    for i, (ok, text, ids, fin) in enumerate(zip(scorable(df), df["completion"].to_list(), stored, finish,
                                                  strict=True)):
        row = first_row + i
        if not ok:
            out.append(None)
        elif ids is not None:
            out.append(_checked(np.asarray(ids, dtype=np.int64), text, tokenizer, vocab, model, where, row))
        else:
            toks = tokenizer.encode(text, add_special_tokens=False)
            out.append(np.asarray(toks + ([eos] if fin == "stop" and eos is not None else []), dtype=np.int32))
    return out


def _checked(ids: np.ndarray, text: str, tokenizer, vocab: int, model: str, where: str, row: int) -> np.ndarray:
    if ids.size and (ids.min() < 0 or ids.max() >= vocab):
        bad = int(ids[(ids < 0) | (ids >= vocab)][0])
        raise BadInput(f"{where}: column token_ids, row {row}: token id {bad} is outside the vocabulary of "
                       f"{model} ({vocab} tokens): the traces were tokenized by another tokenizer")
    decoded = tokenizer.decode(ids.tolist(), skip_special_tokens=True)
    if decoded != text:
        pairs = enumerate(zip(decoded, text, strict=False))
        at = next((j for j, (a, b) in pairs if a != b), min(len(decoded), len(text)))
        raise BadInput(f"{where}: column token_ids, row {row}: the ids do not decode to the row's completion under "
                       f"{model}'s tokenizer (they differ at character {at}: {decoded[at:at + 20]!r} vs "
                       f"{text[at:at + 20]!r}); another tokenizer, or the completion was edited")
    return ids.astype(np.int32)


def trace_key(row: dict, messages: list[dict], kwargs: dict, ids: np.ndarray) -> str:
    """The identity of one scored trace within a run (the run's model and K are fixed by its params)."""
    payload = json.dumps({"id": row.get("id"), "model": row.get("model"), "sample": row.get("sample"),
                          "messages": messages, "kwargs": kwargs}, sort_keys=True, default=str)
    h = hashlib.blake2b(payload.encode(), digest_size=16)
    h.update(ids.tobytes())
    return h.hexdigest()


def result_frame(keys: list[str], scored: list[lp.TokenLogprobs | None], errors: list[str | None],
                 cfg: ScoreConfig) -> pl.DataFrame:
    """Scored traces as checkpoint rows: the summary, the per-token logprobs, top-K, the prompt ids used."""
    p = cfg.prefix
    rows = []
    for key, s, err in zip(keys, scored, errors, strict=True):
        n, total, mean, ppl = lp.summary(s.logprobs) if s is not None else (None, None, None, None)
        rows.append({"request_key": key, f"{p}tokens": n, f"{p}logprob_sum": total, f"{p}logprob_mean": mean,
                     f"{p}perplexity": ppl, f"{p}error": err})
    base = pl.DataFrame(rows, schema=summary_schema(p))
    cols = lp.columns(scored, cfg.k, "float32", prefix=p)
    cols.pop("token_ids")
    return base.with_columns(**cols)


def scores_frame(df: pl.DataFrame, keys: list[str | None], ids: list[np.ndarray | None], results: pl.DataFrame,
                 cfg: ScoreConfig) -> pl.DataFrame:
    """The input rows with this role's columns added (input order kept), token and prompt ids filled in where the
    input had none, and the divergence when both a teacher's and a student's logprobs are there."""
    import pyarrow as pa

    out = df.with_columns(pl.Series("__key", keys, dtype=pl.String))
    if "token_ids" not in out.columns:
        out = out.with_columns(pl.Series("token_ids", lp.list_column(ids, pa.int32())))
    prompt_ids = lp.PROMPT_IDS
    res = results.rename({prompt_ids: f"__{prompt_ids}"}) if prompt_ids in results.columns else results
    out = out.join(res, left_on="__key", right_on="request_key", how="left", maintain_order="left")
    if prompt_ids not in out.columns:
        out = out.with_columns(pl.col(f"__{prompt_ids}").alias(prompt_ids))
    out = out.drop("__key", f"__{prompt_ids}", strict=False)
    out = out.with_columns(pl.lit(cfg.model_name).alias(f"{cfg.prefix}model"))
    return typed(derived(out), cfg)


def typed(df: pl.DataFrame, cfg: ScoreConfig) -> pl.DataFrame:
    """This role's list columns in their stored types (a shard with nothing scored has them all null)."""
    p, stored = cfg.prefix, pl.Float16 if cfg.logprobs_dtype == "float16" else pl.Float32
    types = {"token_ids": pl.List(pl.Int32), lp.PROMPT_IDS: pl.List(pl.Int32), f"{p}logprobs": pl.List(pl.Float32)}
    if cfg.k:
        types |= {f"{p}topk_ids": pl.List(pl.Array(pl.Int32, cfg.k)),
                  f"{p}topk_logprobs": pl.List(pl.Array(stored, cfg.k))}
    return df.with_columns(
        [pl.col(c).cast(t) if c in df.columns else pl.lit(None, t).alias(c) for c, t in types.items()])


def derived(df: pl.DataFrame) -> pl.DataFrame:
    """`divergence`: the mean over a trace's completion tokens of log p_teacher(y_t) - log p_student(y_t).

    For a trace sampled from the teacher this is the Monte Carlo estimate of the per-token forward KL(teacher ||
    student) along the trace (the sequence-level KD objective of Kim & Rush 2016; the forward-KL case of GKD,
    Agarwal et al. 2024). The teacher's logprobs are `teacher_logprobs` (score --role teacher), else
    `token_logprobs` (the generating model's, from generate --logprobs)."""
    teacher = "teacher_logprobs" if "teacher_logprobs" in df.columns else "token_logprobs"
    if teacher not in df.columns or "student_logprobs" not in df.columns:
        return df
    diff = (pl.col(teacher).list.sum() - pl.col("student_logprobs").list.sum()) / pl.col("student_logprobs").list.len()
    ok = pl.col(teacher).list.len() == pl.col("student_logprobs").list.len()
    return df.with_columns(pl.when(ok & (pl.col("student_logprobs").list.len() > 0)).then(diff).alias("divergence"))


def score_stats(out: pl.DataFrame, cfg: ScoreConfig) -> dict:
    p = cfg.prefix
    scored = out.filter(pl.col(f"{p}tokens").is_not_null())
    errors = out.filter(pl.col(f"{p}error").is_not_null())
    return {"scored": scored.height, "errors": errors.height, "not_scored": out.height - scored.height,
            "tokens": int(scored[f"{p}tokens"].sum() or 0),
            "logprob_sum": float(scored[f"{p}logprob_sum"].sum() or 0.0)}
