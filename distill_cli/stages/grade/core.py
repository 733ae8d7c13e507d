"""grade: difficulty of each prompt from how often the teachers (or the student) solve it.

DeepDistill grades a prompt by the pass rate and the coefficient of variation of verify scores over several passes;
the LLM-adaptive difficulty paper grades it by the pass rate of the model you will train. Both are aggregates over
(`id`, `model`). grade computes them in two steps, so memory holds one shard of rows, never the dataset:

1. `grade_table`: one streaming group_by over the few columns it reads gives a row per (id, model);
2. `attach`: each shard of rows looks its grades up in that table (a binary search on a hash of the pair, checked
   against the pair itself), and is written on its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import polars as pl

from distill_cli.errors import BadInput
from distill_cli.stages.grade.config import DEFAULT_BANDS, UNGRADED, Band, GradeConfig, _float, parse_bands  # noqa: F401
from distill_cli.stages.keys import check_unique

GRADE_COLUMNS = ("n_samples", "pass_rate", "score_cv", "len_mean", "len_cv", "difficulty")
KEYS = ["id", "model"]
KEY, CHECK = "_pair_hash", "_pair_check"


def band_expr(rate: pl.Expr, bands: tuple[Band, ...]) -> pl.Expr:
    """The band of each pass rate; a null rate (nothing gradable) is `ungraded`."""
    expr = pl.when(rate.is_null()).then(pl.lit(UNGRADED))
    for band in bands:
        expr = expr.when(rate < band.upper if band.strict else rate <= band.upper).then(pl.lit(band.name))
    return expr.otherwise(pl.lit(bands[-1].name))


def _cv(n: str, std: str, mean: str) -> pl.Expr:
    """Population std / mean: null for fewer than 2 values or a zero mean, where the ratio means nothing."""
    return pl.when((pl.col(n) >= 2) & (pl.col(mean) != 0)).then(pl.col(std) / pl.col(mean)).otherwise(None)


def _aggregates(cfg: GradeConfig, has_tokens: bool) -> list[pl.Expr]:
    """Samples that are not gradable become nulls, so mean/std/count skip them without a per-group filter."""
    gradable = ~pl.col("verdict").is_in(list(cfg.ignore_verdicts)).fill_null(False)
    score = pl.when(gradable).then(pl.col("score").cast(pl.Float64).fill_null(0.0))  # unscored pass = a fail
    length = pl.col("completion_tokens").cast(pl.Float64) if has_tokens else pl.lit(None, pl.Float64)
    tokens = pl.when(gradable).then(length)
    return [
        score.count().cast(pl.Int64).alias("n_samples"),
        score.mean().alias("pass_rate"),
        score.std(ddof=0).alias("_s_std"),
        tokens.count().alias("_t_n"),
        tokens.mean().alias("len_mean"),
        tokens.std(ddof=0).alias("_t_std"),
    ]


def grade_table(lf: pl.LazyFrame, cfg: GradeConfig, where: str = "input") -> pl.DataFrame:
    """One row per (id, model), in no particular order, with every graded column.

    A sample counted twice would make the pass rate and n_samples wrong, so a group whose rows outnumber its
    distinct `sample` values stops the run (counted in the same group-by)."""
    names = lf.collect_schema().names()
    keyed = [pl.len().alias("_rows"), pl.col("sample").n_unique().alias("_distinct")] if "sample" in names else []
    stats = lf.group_by(KEYS).agg(_aggregates(cfg, "completion_tokens" in names) + keyed).collect(engine="streaming")
    if keyed:
        _refuse_repeats(lf, stats, where)
    if cfg.reference_model is not None:  # the reference model's pass rate, on every model's row of the prompt
        check_reference(stats, cfg)
        mine = pl.when(pl.col("model") == cfg.reference_model).then(pl.col("pass_rate"))
        stats = stats.with_columns(mine.max().over("id").alias("ref_pass_rate"))
    rate = pl.col("ref_pass_rate" if cfg.reference_model else "pass_rate")
    return stats.select(
        *KEYS, "n_samples", "pass_rate",
        _cv("n_samples", "_s_std", "pass_rate").alias("score_cv"),
        "len_mean",
        _cv("_t_n", "_t_std", "len_mean").alias("len_cv"),
        *(["ref_pass_rate"] if cfg.reference_model else []),
        band_expr(rate, cfg.bands).alias("difficulty"),
    )


def _refuse_repeats(lf: pl.LazyFrame, stats: pl.DataFrame, where: str) -> None:
    if stats.select((pl.col("_rows") > pl.col("_distinct")).any()).item():
        check_unique(lf, where, "grade")  # names the first repeated key, in input order


def _pair_hash(seed: int) -> pl.Expr:
    return pl.struct(KEYS).hash(seed=seed)


@dataclass(frozen=True)
class Lookup:
    """The grade table sorted by a 64-bit hash of (id, model): a shard finds its rows' grades by binary search, where
    a hash join would rebuild a hash table of every group for each shard (measured: 0.3 s per 100k-row shard against
    2.5M groups; about 0.01 s this way). A second, independent hash confirms each match; a row whose pair shares
    its first hash with another pair, or is missing, sends the shard to an exact join."""

    table: pl.DataFrame  # grade_table's rows in KEY order, with both hashes
    key: pl.Expr
    check: pl.Expr

    @classmethod
    def build(cls, table: pl.DataFrame, key: pl.Expr | None = None) -> Lookup:
        key = _pair_hash(0x5EED) if key is None else key
        check = _pair_hash(0xC0FFEE)
        return cls(table.with_columns(key.alias(KEY), check.alias(CHECK)).sort(KEY), key, check)

    def find(self, rows: pl.DataFrame) -> pl.DataFrame:
        """The graded columns of each input row, in input order.

        The rows of one (id, model) usually sit together, so only the first row of each run is searched for."""
        hashes = rows.select(self.key.alias(KEY), self.check.alias(CHECK))  # each hash computed once
        hashes = hashes.with_columns(pl.col(KEY).ne_missing(pl.col(KEY).shift(1)).alias("start"))
        hashes = hashes.with_columns((pl.col("start").cum_sum() - 1).alias("run"))
        starts = hashes.get_column(KEY).filter(hashes.get_column("start"))
        where = self.table.get_column(KEY).search_sorted(starts, side="left")
        where = where.clip(0, max(self.table.height - 1, 0)).gather(hashes.get_column("run"))
        found = self.table.select(pl.exclude(KEY, *KEYS).gather(where))
        if (found.get_column(CHECK) == hashes.get_column(CHECK)).all():
            return found.drop(CHECK)
        exact = rows.select(KEYS).join(self.table.drop(KEY, CHECK), on=KEYS, how="left", nulls_equal=True,
                                       maintain_order="left")
        return exact.drop(KEYS)


def attach(rows: pl.DataFrame, lookup: Lookup) -> pl.DataFrame:
    """The rows in their order with the graded columns (replacing any from an earlier grade)."""
    grades = lookup.find(rows)
    old = [c for c in (*GRADE_COLUMNS, "ref_pass_rate") if c in rows.columns]
    return rows.drop(old).hstack(grades.get_columns())


def check_reference(stats: pl.DataFrame, cfg: GradeConfig) -> None:
    """The reference model must be one of the models the (id, model) table was built from."""
    present = sorted(m for m in stats.get_column("model").unique().to_list() if m is not None)
    if cfg.reference_model not in present:
        raise BadInput(f"--reference-model {cfg.reference_model!r}: no such model in the input; "
                       f"models present: {', '.join(present) or 'none'}")


def summary(table: pl.DataFrame) -> pl.DataFrame:
    """One row per prompt in id order, one pass-rate column per model (`pass_rate__<model>`), the prompt's grade.

    A when/then max picks each model's single row without a pivot; the streaming engine's unordered group-by and
    then a sort by id cost a third of an order-keeping eager group-by with a filter per group (measured on 250k
    prompts: 0.15 + 0.12 s CPU against 0.54 s), and the order no longer hangs on the lookup's hash order."""
    models = table.get_column("model").unique().drop_nulls().sort().to_list()
    rate = pl.col("pass_rate")
    cols = [pl.when(pl.col("model") == m).then(rate).max().alias(f"pass_rate__{m}") for m in models]
    cols += [pl.col("n_samples").sum(), rate.mean().alias("pass_rate_mean")]
    if "ref_pass_rate" in table.columns:
        cols += [pl.col("ref_pass_rate").first(), pl.col("difficulty").first()]
    prompts = table.lazy().group_by("id").agg(cols).collect(engine="streaming")
    return prompts.sort("id", multithreaded=False)


def grade_counters(table: pl.DataFrame, prompts: pl.DataFrame, cfg: GradeConfig) -> dict:
    """Whole-run counters from the grade table and its per-prompt summary."""
    mix = dict(table.group_by("difficulty").len().sort("difficulty").iter_rows())
    mean = table.get_column("pass_rate").mean()
    return {
        "groups": table.height,
        "prompts": prompts.height,
        "models": table.get_column("model").n_unique(),
        "difficulty_groups": {str(k): v for k, v in mix.items()},
        "pass_rate_mean": None if mean is None or math.isnan(mean) else round(float(mean), 6),
        "reference_model": cfg.reference_model,
    }


def grade_frame(lf: pl.LazyFrame, cfg: GradeConfig) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    """All of grade on a frame that fits in memory: graded rows, the per-prompt summary, the counters."""
    lookup = Lookup.build(grade_table(lf, cfg))
    rows, prompts = lf.collect(), summary(lookup.table)
    return attach(rows, lookup), prompts, {"rows_in": rows.height, **grade_counters(lookup.table, prompts, cfg)}
