"""The pure part of generate: prompts -> requests, results -> trace rows, rows -> stats. No engine, no files."""

from __future__ import annotations

import polars as pl

from distill_cli.engines import logprobs as lp
from distill_cli.engines.render import render_messages
from distill_cli.engines.thinking import join_thinking, split_thinking
from distill_cli.engines.types import Request, Result
from distill_cli.errors import BadInput
from distill_cli.schema import PROMPTS, TRACES, conform
from distill_cli.stages.generate.config import BackendName, GenerateConfig  # noqa: F401
from distill_cli.stages.generate.keys import request_key

# what a checkpoint chunk holds per finished request; the prompt columns are joined back when the shard is whole
RESULT_SCHEMA: dict[str, pl.DataType] = {
    "request_key": pl.String,
    "id": pl.String,
    "sample": pl.Int64,
    "completion": pl.String,
    "reasoning": pl.String,
    "response": pl.String,
    "finish_reason": pl.String,
    "prompt_tokens": pl.Int64,
    "completion_tokens": pl.Int64,
    "seed": pl.Int64,
    "error": pl.String,
    "cached_tokens": pl.Int64,  # null: the backend did not report it (engines/usage.py)
    "reasoning_tokens": pl.Int64,
}


def check_ids(df: pl.DataFrame, where: str) -> None:
    """Two rows with one id would share request keys and so one trace; collect never makes such input."""
    dup = df.filter(pl.col("id").is_duplicated())
    if dup.height:
        raise BadInput(f"{where}: id {dup['id'][0]!r} appears more than once; generate needs unique prompt ids "
                       "(make the input with `distill collect`)")
    nulls = df.filter(pl.col("id").is_null() | pl.col("prompt").is_null())
    if nulls.height:
        raise BadInput(f"{where}: a row has no id or no prompt (columns 'id' and 'prompt' must be filled)")


def build_requests(df: pl.DataFrame, cfg: GenerateConfig) -> list[Request]:
    """n requests per prompt, in input order; each keyed by what it asks (the resume key)."""
    out = []
    for pid, prompt in zip(df["id"].to_list(), df["prompt"].to_list(), strict=True):
        messages = render_messages(prompt, cfg.system_prompt, cfg.prompt_template)
        for sample in range(cfg.n):
            key = request_key(pid, sample, messages, cfg.sampling, cfg.model_name, cfg.chat_template_kwargs)
            out.append(Request(key, pid, sample, messages, cfg.sampling, cfg.chat_template_kwargs))
    return out


def result_row(res: Result) -> dict:
    """One finished request as a checkpoint row; a failed request is a row with finish_reason 'error'."""
    req = res.request
    if res.error is not None:
        completion, reasoning, response, finish = res.text, None, "", "error"
    else:
        reasoning, response = split_thinking(res.text, res.reasoning_content, res.think_open)
        completion = res.text if res.reasoning_content is None else join_thinking(reasoning, res.text)
        finish = res.finish_reason or "unknown"
    return {"request_key": req.key, "id": req.id, "sample": req.sample, "completion": completion,
            "reasoning": reasoning, "response": response, "finish_reason": finish,
            "prompt_tokens": res.prompt_tokens, "completion_tokens": res.completion_tokens,
            "seed": res.seed if res.seed is not None else req.sampling.seed, "error": res.error,
            "cached_tokens": res.cached_tokens, "reasoning_tokens": res.reasoning_tokens,
            "logprobs": res.logprobs}


def results_frame(rows: list[dict]) -> pl.DataFrame:
    """Checkpoint rows as a frame; with logprobs, their columns (float32: the stored dtype is applied once, when
    the shard is whole) built from the rows' arrays in one piece."""
    base = pl.DataFrame([{k: r.get(k) for k in RESULT_SCHEMA} for r in rows], schema=RESULT_SCHEMA)
    found = [r.get("logprobs") for r in rows]
    k = next((x.k for x in found if x is not None), None)
    if k is None:
        return base
    return base.with_columns(**lp.columns(found, k))


def latest_results(saved: pl.DataFrame | None) -> pl.DataFrame:
    """The newest row per request key (a resumed run re-sends failed requests and appends their new rows)."""
    if saved is None or saved.height == 0:
        return results_frame([])
    absent = [pl.lit(None, RESULT_SCHEMA[c]).alias(c) for c in RESULT_SCHEMA if c not in saved.columns]
    saved = saved.with_columns(absent)  # chunks saved before a column existed (a run resumed across versions)
    extra = [c for c in (*lp.COLUMNS, lp.PROMPT_IDS) if c in saved.columns]
    return saved.select([*RESULT_SCHEMA, *extra]).cast(RESULT_SCHEMA).unique("request_key", keep="last",
                                                                             maintain_order=True)


def finished_keys(saved: pl.DataFrame) -> set[str]:
    """Keys not to send again: every saved result except errors, which the next run retries."""
    return set(saved.filter(pl.col("finish_reason") != "error")["request_key"].to_list())


def traces_frame(prompts: pl.DataFrame, results: pl.DataFrame, cfg: GenerateConfig) -> pl.DataFrame:
    """Prompt rows x samples joined to their results: the traces contract, input order then sample order."""
    for name, dtype in PROMPTS.items():
        if name not in prompts.columns:
            prompts = prompts.with_columns(pl.lit(None, dtype).alias(name))
    grid = prompts.with_row_index("__row").join(
        pl.DataFrame({"sample": list(range(cfg.n))}, schema={"sample": pl.Int64}), how="cross")
    out = grid.join(results, on=["id", "sample"], how="left").sort("__row", "sample").drop("__row")
    out = out.with_columns(pl.lit(cfg.model_name).alias("model"), pl.lit(cfg.gen_params()).alias("gen_params"))
    if cfg.sampling.logprobs is not None:
        out = logprob_columns(out, cfg.sampling.logprobs, cfg.logprobs_dtype)
    return conform(out, TRACES)


def logprob_columns(traces: pl.DataFrame, k: int, dtype: str) -> pl.DataFrame:
    """Every logprob column present and typed (a shard of error rows has none), topk_logprobs in `dtype`."""
    stored = pl.Float16 if dtype == "float16" else pl.Float32
    types = {"token_ids": pl.List(pl.Int32), lp.PROMPT_IDS: pl.List(pl.Int32), "token_logprobs": pl.List(pl.Float32)}
    if k > 0:
        types |= {"topk_ids": pl.List(pl.Array(pl.Int32, k)), "topk_logprobs": pl.List(pl.Array(stored, k))}
    return traces.with_columns(
        [pl.col(c).cast(t) if c in traces.columns else pl.lit(None, t).alias(c) for c, t in types.items()])


def trace_stats(traces: pl.DataFrame) -> dict:
    """Counters of a whole shard (merge_stats sums them across shards)."""
    reasons = traces.group_by("finish_reason").len().iter_rows()
    return {
        "samples": traces.height,
        "tokens": {kind: int(traces[f"{kind}_tokens"].sum() or 0)
                   for kind in ("prompt", "completion", "cached", "reasoning")},
        "finish_reasons": {str(k): int(v) for k, v in reasons},
        "errors": int((traces["finish_reason"] == "error").sum()),
        "no_response": int((traces["response"].fill_null("") == "").sum()),
    }
