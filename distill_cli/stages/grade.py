"""grade: difficulty of each prompt from how often the teachers (or the student) solve it.

DeepDistill grades a prompt by the pass rate and the coefficient of variation of verify scores over several passes;
the LLM-adaptive difficulty paper grades it by the pass rate of the model you will train. Both reduce to window
aggregates over (`id`, `model`) on the verified rows: one grouping shared by every statistic and no join back, in a
lazy polars plan that reads the input once.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import polars as pl

from distill_cli.errors import BadInput

UNGRADED = "ungraded"
DEFAULT_BANDS = "unsolved=0,hard=0.3,medium=0.7,easy=<1,trivial=1"
GRADE_COLUMNS = ("n_samples", "pass_rate", "score_cv", "len_mean", "len_cv", "difficulty")
KEYS = ["id", "model"]
FIRST = "_first_of_group"


@dataclass(frozen=True)
class Band:
    """Pass rates above the previous band's bound and at most `upper` (strictly below it when `strict`)."""

    name: str
    upper: float
    strict: bool = False


@dataclass(frozen=True)
class GradeConfig:
    bands: tuple[Band, ...] = field(default_factory=lambda: parse_bands(DEFAULT_BANDS))
    reference_model: str | None = None
    ignore_verdicts: tuple[str, ...] = ("unverifiable",)


def parse_bands(text: str) -> tuple[Band, ...]:
    """`name=UPPER,...` ascending; `name=<UPPER` excludes the bound itself. The last band must reach 1."""
    bands: list[Band] = []
    for item in (p.strip() for p in text.split(",") if p.strip()):
        m = re.fullmatch(r"([A-Za-z_][\w-]*)\s*=\s*(<?)\s*([0-9.]+)", item)
        if not m:
            raise BadInput(f"--bands {item!r}: expected NAME=UPPER or NAME=<UPPER, e.g. {DEFAULT_BANDS}")
        name, strict, upper = m.group(1), bool(m.group(2)), _float(m.group(3), "--bands")
        if not 0 <= upper <= 1:
            raise BadInput(f"--bands {item!r}: bound must be within 0..1")
        if name in (b.name for b in bands) or name == UNGRADED:
            raise BadInput(f"--bands: band name {name!r} is used twice or reserved")
        if bands and (upper, not strict) <= (bands[-1].upper, not bands[-1].strict):
            raise BadInput(f"--bands {item!r}: bounds must increase (after {bands[-1].name}={bands[-1].upper})")
        bands.append(Band(name, upper, strict))
    if not bands or bands[-1].upper != 1 or bands[-1].strict:
        raise BadInput(f"--bands {text!r}: the last band must end at 1 (inclusive) so every pass rate has a band")
    return tuple(bands)


def _float(text: str, option: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise BadInput(f"{option}: {text!r} is not a number") from None


def band_expr(rate: pl.Expr, bands: tuple[Band, ...]) -> pl.Expr:
    """The band of each pass rate; a null rate (nothing gradable) is `ungraded`."""
    expr = pl.when(rate.is_null()).then(pl.lit(UNGRADED))
    for band in bands:
        expr = expr.when(rate < band.upper if band.strict else rate <= band.upper).then(pl.lit(band.name))
    return expr.otherwise(pl.lit(bands[-1].name))


def _cv(n: str, std: str, mean: str) -> pl.Expr:
    """Population std / mean: null for fewer than 2 values or a zero mean, where the ratio means nothing."""
    return pl.when((pl.col(n) >= 2) & (pl.col(mean) != 0)).then(pl.col(std) / pl.col(mean)).otherwise(None)


def _group_exprs(cfg: GradeConfig, has_tokens: bool) -> list[pl.Expr]:
    """Window aggregates over (id, model): one grouping shared by every expression, no join back.

    Samples that are not gradable become nulls, so mean/std/count skip them without a per-group filter.
    """
    gradable = ~pl.col("verdict").is_in(list(cfg.ignore_verdicts)).fill_null(False)
    score = pl.when(gradable).then(pl.col("score").cast(pl.Float64).fill_null(0.0))  # unscored pass = a fail
    length = pl.col("completion_tokens").cast(pl.Float64) if has_tokens else pl.lit(None, pl.Float64)
    tokens = pl.when(gradable).then(length)
    exprs = [
        score.count().cast(pl.Int64).over(KEYS).alias("n_samples"),
        score.mean().over(KEYS).alias("pass_rate"),
        score.std(ddof=0).over(KEYS).alias("_s_std"),
        tokens.count().over(KEYS).alias("_t_n"),
        tokens.mean().over(KEYS).alias("len_mean"),
        tokens.std(ddof=0).over(KEYS).alias("_t_std"),
        (pl.col(FIRST) == pl.col(FIRST).min().over(KEYS)).alias(FIRST),  # a min is far cheaper than int_range
    ]
    if cfg.reference_model is not None:
        mine = pl.when(pl.col("model") == cfg.reference_model).then(score)
        exprs.append(mine.mean().over("id").alias("ref_pass_rate"))
    return exprs


def grade_rows(lf: pl.LazyFrame, cfg: GradeConfig) -> pl.LazyFrame:
    """The input rows in input order with the graded columns (replacing any from an earlier grade)."""
    names = lf.collect_schema().names()
    old = [c for c in (*GRADE_COLUMNS, "ref_pass_rate", FIRST) if c in names]
    rate = pl.col("ref_pass_rate" if cfg.reference_model else "pass_rate")
    return (
        lf.drop(old)
        .with_row_index(FIRST)
        .with_columns(_group_exprs(cfg, "completion_tokens" in names))
        .with_columns(
            _cv("n_samples", "_s_std", "pass_rate").alias("score_cv"),
            _cv("_t_n", "_t_std", "len_mean").alias("len_cv"),
            band_expr(rate, cfg.bands).alias("difficulty"),
        )
        .drop("_s_std", "_t_n", "_t_std")
        .select(pl.exclude(FIRST, *_ordered(cfg)), *_ordered(cfg), FIRST)
    )


def _ordered(cfg: GradeConfig) -> list[str]:
    extra = ["ref_pass_rate"] if cfg.reference_model else []
    return ["n_samples", "pass_rate", "score_cv", "len_mean", "len_cv", *extra, "difficulty"]


def models_present(lf: pl.LazyFrame) -> list[str]:
    models = lf.select(pl.col("model").unique()).collect(engine="streaming").get_column("model")
    return sorted(m for m in models.to_list() if m is not None)


def check_reference(lf: pl.LazyFrame, cfg: GradeConfig) -> None:
    if cfg.reference_model is None:
        return
    present = models_present(lf)
    if cfg.reference_model not in present:
        raise BadInput(f"--reference-model {cfg.reference_model!r}: no such model in the input; "
                       f"models present: {', '.join(present) or 'none'}")


def summary(stats: pl.DataFrame) -> pl.DataFrame:
    """One row per prompt (in input order), one pass-rate column per model (`pass_rate__<model>`), the prompt's
    grade; a conditional max picks each model's single row without a pivot or a sort."""
    models = stats.get_column("model").unique().drop_nulls().sort().to_list()
    rate = pl.col("pass_rate")
    cols = [pl.when(pl.col("model") == m).then(rate).max().alias(f"pass_rate__{m}") for m in models]
    cols += [pl.col("n_samples").sum(), rate.mean().alias("pass_rate_mean")]
    if "ref_pass_rate" in stats.columns:
        cols += [pl.col("ref_pass_rate").first(), pl.col("difficulty").first()]
    return stats.group_by("id", maintain_order=True).agg(cols)


def grade_frame(lf: pl.LazyFrame, cfg: GradeConfig) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    """Graded rows, the per-prompt summary, and the counters for _stats.json."""
    check_reference(lf, cfg)
    out = grade_rows(lf, cfg).collect(engine="streaming")
    stats = out.filter(pl.col(FIRST)).select(KEYS + _ordered(cfg))
    return out.drop(FIRST), summary(stats), grade_counters(out.height, stats, cfg)


def grade_counters(rows: int, stats: pl.DataFrame, cfg: GradeConfig) -> dict:
    mix = dict(stats.group_by("difficulty").len().sort("difficulty").iter_rows())
    mean = stats.get_column("pass_rate").mean()
    return {
        "rows_in": rows,
        "groups": stats.height,
        "prompts": stats.get_column("id").n_unique(),
        "models": stats.get_column("model").n_unique(),
        "difficulty_groups": {str(k): v for k, v in mix.items()},
        "pass_rate_mean": None if mean is None or math.isnan(mean) else round(float(mean), 6),
        "reference_model": cfg.reference_model,
    }
