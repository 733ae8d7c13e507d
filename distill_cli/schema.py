"""The columns each stage guarantees (DESIGN.md), as polars types: the contract between stages."""

from __future__ import annotations

import polars as pl

PROMPTS: dict[str, pl.DataType] = {
    "id": pl.String,
    "prompt": pl.String,
    "answer": pl.String,
    "domain": pl.String,
    "source": pl.String,
    "tests": pl.String,
    "meta": pl.String,
}

TRACES: dict[str, pl.DataType] = {
    **PROMPTS,
    "model": pl.String,
    "sample": pl.Int64,
    "completion": pl.String,
    "reasoning": pl.String,
    "response": pl.String,
    "finish_reason": pl.String,
    "prompt_tokens": pl.Int64,
    "completion_tokens": pl.Int64,
    "gen_params": pl.String,
    "seed": pl.Int64,
}

VERIFIED: dict[str, pl.DataType] = {
    **TRACES,
    "verdict": pl.String,
    "score": pl.Float64,
    "extracted": pl.String,
    "verifier": pl.String,
}

GRADED: dict[str, pl.DataType] = {
    **VERIFIED,
    "n_samples": pl.Int64,
    "pass_rate": pl.Float64,
    "score_cv": pl.Float64,
    "difficulty": pl.String,
}

COMPRESSED_EXTRA: dict[str, pl.DataType] = {
    "reasoning_original": pl.String,
    "compression": pl.String,
    "compression_ratio": pl.Float64,
}

VERDICTS = ("correct", "incorrect", "no_answer", "unverifiable", "timeout", "error")
DOMAINS = ("math", "code", "choice", "text")


def conform(df: pl.DataFrame, columns: dict[str, pl.DataType]) -> pl.DataFrame:
    """Cast the contract's columns to their types and put them first; other columns follow untouched."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"stage output lacks contract columns {missing}")
    head = [pl.col(c).cast(t) for c, t in columns.items()]
    rest = [c for c in df.columns if c not in columns]
    return df.select(head + rest)
