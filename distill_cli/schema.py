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

# the stages whose output is a stage directory, in pipeline order (a manifest's `stage` is one of them)
DIR_STAGES = ("collect", "generate", "verify", "filter", "grade", "select", "compress", "dedupe", "score")
# side tables a stage writes beside its shards, by file stem (`<stem>.parquet`; dedupe under --shard I/N:
# `<stem>-part-NNNNN.parquet`, one per partition)
SUMMARY = "_summary"  # grade: one row per prompt, a pass-rate column per model
FILTERED = "_filtered"  # filter: every dropped trace and why
DUPLICATES = "_duplicates"  # dedupe: every removed duplicate and the row it duplicates
CONTAMINATION = "_contamination"  # dedupe: every removed prompt and the benchmark problem it matches

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


# ---- reading what other tools wrote ------------------------------------------------------------------------------

# Columns later stages add beyond the table above; typed here so an input carrying them is cast like the rest.
DERIVED: dict[str, pl.DataType] = {"ref_pass_rate": pl.Float64, "pair_id": pl.String, "pair_role": pl.String}

CONTRACT: dict[str, pl.DataType] = {**GRADED, **COMPRESSED_EXTRA, **DERIVED}

# Nullable columns whose absence means "none" (a non-thinking model has no reasoning), added as null when the input
# is at least at the level that has them; a missing required column stays an error the stage reports.
OPTIONAL: dict[str, tuple[str, ...]] = {
    "tests": (), "meta": (),
    "reasoning": ("completion", "response"), "seed": ("completion", "response"),
    "extracted": ("verdict",), "score_cv": ("pass_rate",),
}

NUMBER_TEXT = ("answer", "extracted")  # a number is a fine answer (GSM8K's 18): written as its text
JSON_TEXT = ("meta", "gen_params")  # str JSON columns: a nested value from another tool is written as its JSON
PASS_THROUGH = ("tests",)  # nested tests (list<str>, as `datasets` stores MBPP's test_list) are verify's to read
NEEDS_CHECK = "check"  # a cast that can fail on a value (text to number): checked over the data before use


def cast_kind(dtype: pl.DataType, target: pl.DataType, name: str) -> str | None:
    """How to bring a column of `dtype` to the contract's `target`: None (already), "cast", "json", "check", or
    "keep"; raises ValueError with the reason when it cannot be done."""
    if dtype == target:
        return None
    number = dtype.is_numeric() or dtype == pl.Boolean
    if dtype == pl.Null:
        return "cast"
    if target.is_numeric() and (number or dtype == pl.String):
        return NEEDS_CHECK if dtype == pl.String or target.is_integer() and dtype.is_float() else "cast"
    if target == pl.String:
        if isinstance(dtype, (pl.Categorical, pl.Enum)) or number and name in NUMBER_TEXT:
            return "cast"
        if dtype.is_nested() and name in JSON_TEXT:
            return "json"
        if dtype.is_nested() and name in PASS_THROUGH:
            return "keep"
    raise ValueError(f"column '{name}' has type {dtype}, which distill cannot cast to the contract's {target}")


def cast_expr(name: str, kind: str, target: pl.DataType) -> pl.Expr:
    """The expression that brings column `name` to `target` the way `cast_kind` said."""
    col = pl.col(name)
    if kind == "keep":
        return col
    if kind == "json":  # polars JSON-encodes structs only: wrap the value in one and cut the wrapper off again
        text = pl.struct(col.alias("v")).struct.json_encode().str.strip_prefix('{"v":').str.strip_suffix("}")
        return pl.when(col.is_not_null()).then(text).alias(name)
    return col.cast(target)


def uncastable(name: str, dtype: pl.DataType, target: pl.DataType) -> pl.Expr:
    """True on the rows of a `check` cast whose value is not a `target` (text that is no number, 2.5 as an int)."""
    col = pl.col(name)
    bad = col.is_not_null() & col.cast(target, strict=False).is_null()
    if dtype.is_float() and target.is_integer():
        bad = bad | (col.is_not_null() & (col != col.round()))
    return bad
