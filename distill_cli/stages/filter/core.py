"""filter: the pure core. Measure every check on a frame of traces, drop the rows that fail one, list them.

Cheap expression checks run first over the whole frame; the n-gram and language measures run only where they are
on. A dropped row is named by the first check it fails (config.REASONS order), and the side table keeps every
check it failed and the measured values, so a threshold can be judged from what it removed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from distill_cli.stages.filter import checks
from distill_cli.stages.filter.config import REASONS, FilterConfig
from distill_cli.stages.filter.language import foreign_language_share, foreign_script_share
from distill_cli.stages.filter.repetition import repetition

MEASURES = {"repeated_share": pl.Float64, "repeated_span": pl.Int64, "foreign_script": pl.Float64,
            "foreign_language": pl.Float64, "perplexity": pl.Float64}
FILTERED_SCHEMA = {"row": pl.Int64, "id": pl.String, "sample": pl.Int64, "model": pl.String, "reason": pl.String,
                   "reasons": pl.String, **MEASURES}


@dataclass
class FilterResult:
    kept: pl.DataFrame
    filtered: pl.DataFrame  # FILTERED_SCHEMA: one row per dropped row
    stats: dict = field(default_factory=dict)


def measure(df: pl.DataFrame, cfg: FilterConfig) -> pl.DataFrame:
    """The numeric measures of the checks that are on (null columns for those that are off)."""
    out = pl.DataFrame({name: pl.Series(name, [None] * df.height, dtype) for name, dtype in MEASURES.items()})
    if cfg.max_repeated_share is not None or cfg.max_repeated_span is not None:
        if "completion" in df.columns:  # the whole raw trace, without a concatenated copy of every row
            text = df["completion"].cast(pl.String)
        else:
            text = df.select(pl.col("reasoning").cast(pl.String).fill_null("") + "\n"
                             + pl.col("response").cast(pl.String).fill_null("")).to_series()
        out = out.with_columns(repetition(text, cfg.ngram, cfg.batch_rows))
    has_prompt = "prompt" in df.columns
    if cfg.max_foreign_script is not None and has_prompt:
        out = out.with_columns(foreign_script_share(df))
    if cfg.max_foreign_language is not None and has_prompt:
        out = out.with_columns(foreign_language_share(df, cfg.language_windows))
    if cfg.max_perplexity is not None or cfg.min_perplexity is not None:
        out = out.with_columns(df[cfg.perplexity_column].cast(pl.Float64).alias("perplexity"))
    return out


def failures(df: pl.DataFrame, m: pl.DataFrame, cfg: FilterConfig) -> pl.DataFrame:
    """One boolean column per check (named as its reason), true where the row fails it."""
    cols = df.columns
    exprs: dict[str, pl.Expr] = {}
    if cfg.truncated and "finish_reason" in cols:
        exprs["truncated"] = checks.truncated()
    if cfg.think != "off":
        exprs["think_unclosed"] = checks.think_unclosed(cols)
        exprs["think_missing"] = checks.think_missing(cfg.think, cols)
    if cfg.empty_answer:
        exprs["empty_answer"] = checks.empty_answer()
    if cfg.multiple_answers:
        exprs["answers_disagree"] = checks.answers_disagree()
    if cfg.refusals:
        exprs["refusal"] = checks.refusal(cfg.refusals)
    flags = df.select(**exprs) if exprs else pl.DataFrame({"_": [0] * df.height}).drop("_")
    if cfg.unsupported_answer:
        flags = flags.with_columns(checks.answer_unsupported(df))

    def over(name: str, limit: float | None, below: bool = False) -> pl.Expr | None:
        if limit is None:
            return None
        return ((pl.col(name) < limit) if below else (pl.col(name) > limit)).fill_null(False)

    numeric = {"repetition": over("repeated_share", cfg.max_repeated_share),
               "repeated_span": over("repeated_span", cfg.max_repeated_span),
               "foreign_script": over("foreign_script", cfg.max_foreign_script),
               "foreign_language": over("foreign_language", cfg.max_foreign_language),
               "perplexity_high": over("perplexity", cfg.max_perplexity),
               "perplexity_low": over("perplexity", cfg.min_perplexity, below=True)}
    flags = flags.with_columns(m.select(**{k: v for k, v in numeric.items() if v is not None}))
    return flags.select([r for r in REASONS if r in flags.columns])


def filter_frame(df: pl.DataFrame, cfg: FilterConfig) -> FilterResult:
    """Keep the rows that pass every check that is on; `filtered` lists the others by row index of `df`."""
    m = measure(df, cfg)
    flags = failures(df, m, cfg)
    names = flags.columns
    if names:
        failed = flags.select(pl.concat_list([pl.when(pl.col(r)).then(pl.lit(r)) for r in names])
                              .list.drop_nulls().alias("f"))["f"]
    else:
        failed = pl.Series("f", [[] for _ in range(df.height)], pl.List(pl.String))
    drop = failed.list.len() > 0
    ident = df.select([(pl.col(c).cast(FILTERED_SCHEMA[c], strict=False) if c in df.columns
                        else pl.lit(None, FILTERED_SCHEMA[c])).alias(c) for c in ("id", "sample", "model")])
    filtered = (pl.concat([ident, m], how="horizontal")
                .with_columns(row=pl.int_range(df.height, dtype=pl.Int64), reason=failed.list.first(),
                              reasons=failed.list.join(","))
                .filter(drop).select(list(FILTERED_SCHEMA)))
    counts = dict(filtered.group_by("reason").len().iter_rows())
    flagged = {r: int(flags[r].sum()) for r in names}
    stats = {"kept": int(df.height - filtered.height),
             "dropped": {r: int(counts.get(r, 0)) for r in names},
             "failed_checks": flagged}
    return FilterResult(df.filter(~drop), filtered, stats)
