"""select: keep the traces worth training on, the recipes open-r1, DeepDistill, Light-R1, Skywork-OR1 and
Phi-4-reasoning apply by hand: difficulty bands, pass-rate windows, CV caps, a difficulty mix, K traces per prompt,
DPO pairs.

The decision is made on a narrow projection of the rows (ids, verdicts, grades, token counts and a row number);
the wide columns (prompts, completions) only stream through the final row-number join, so memory holds the
output, not the input.
"""

from __future__ import annotations

import polars as pl

from distill_cli.errors import BadInput
from distill_cli.stages.select.config import (  # noqa: F401
    BY_CHOICES,
    PREFER_CHOICES,
    SCORED,
    By,
    Prefer,
    SelectConfig,
    Window,
    _num,
    parse_distribution,
    parse_names,
    parse_window,
)
from distill_cli.stages.select.sample import (
    ROW,
    SampleConfig,
    pick_pairs,
    pick_per_prompt,
    pick_prompts,
)

PAIR_COLUMNS = ("pair_id", "pair_role")
SEEN = "__seen "  # first_pass's per-value flags: whether any input row has the value an option names


def score_column(by: str, schema: list[str]) -> str:
    """What --by perplexity|divergence reads: the student's perplexity when score ran with --role student (selection
    by the model you will train), else the teacher's; the divergence score adds once both are there."""
    if by == "divergence":
        return "divergence"
    return "student_perplexity" if "student_perplexity" in schema or "teacher_perplexity" not in schema \
        else "teacher_perplexity"


def quantile_of(col: pl.Expr) -> pl.Expr:
    """Each row's quantile of `col` among the rows that have a value: 0 the lowest, 1 the highest (ties: mean)."""
    n = col.count()
    return pl.when(n > 1).then((col.rank("average") - 1) / (n - 1)).otherwise(0.5)


def rate_column(schema: list[str]) -> str:
    """The pass rate difficulty was graded by: the reference model's when grade had one."""
    return "ref_pass_rate" if "ref_pass_rate" in schema else "pass_rate"


def needed_columns(cfg: SelectConfig, schema: list[str]) -> dict[str, type[pl.DataType]]:
    """Columns the chosen options read, so a missing one is named before any work starts."""
    need: dict[str, type[pl.DataType]] = {"id": pl.String}
    if cfg.models or cfg.pairs:
        need["model"] = pl.String
    if cfg.domains:
        need["domain"] = pl.String
    if cfg.correct_only or cfg.pairs:
        need["verdict"] = pl.String
    if cfg.by == "difficulty" or cfg.keep or cfg.distribution:
        need["difficulty"] = pl.String
    ranks_rate = cfg.by == "pass-rate" or (cfg.by == "difficulty" and cfg.total is not None and not cfg.distribution)
    if ranks_rate or cfg.pass_rate is not None:
        need[rate_column(schema)] = pl.Float64
    if cfg.by == "cv" or cfg.max_cv is not None:
        need["score_cv"] = pl.Float64
    ranks_length = (cfg.per_prompt is not None or cfg.pairs) and cfg.prefer in ("shortest", "longest")
    if cfg.by == "length" or cfg.length_tokens is not None or ranks_length:
        need["completion_tokens"] = pl.Int64
    if cfg.by in SCORED:
        need[score_column(cfg.by, schema)] = pl.Float64
    return need


def row_filters(cfg: SelectConfig, schema: list[str]) -> list[tuple[str, pl.Expr]]:
    """Row-local filters in the order their drops are counted; a null value fails its filter."""
    checks: list[tuple[str, pl.Expr]] = []
    if cfg.models:
        checks.append(("model", pl.col("model").is_in(list(cfg.models))))
    if cfg.domains:
        checks.append(("domain", pl.col("domain").is_in(list(cfg.domains))))
    if cfg.correct_only and not cfg.pairs:
        checks.append(("not_correct", pl.col("verdict") == "correct"))
    if cfg.keep:
        checks.append(("difficulty", pl.col("difficulty").is_in(list(cfg.keep))))
    if cfg.pass_rate is not None:
        checks.append(("pass_rate", cfg.pass_rate.expr(pl.col(rate_column(schema)))))
    if cfg.max_cv is not None:
        checks.append(("cv", pl.col("score_cv") <= cfg.max_cv))
    if cfg.length_tokens is not None:
        checks.append(("length", cfg.length_tokens.expr(pl.col("completion_tokens"))))
    if cfg.band is not None:
        checks.append(("band", cfg.band.expr(pl.col(score_column(cfg.by, schema)))))
    if cfg.quantile is not None:
        checks.append(("quantile", cfg.quantile.expr(quantile_of(pl.col(score_column(cfg.by, schema))))))
    return [(name, expr.fill_null(False)) for name, expr in checks]


def _drop_counts(lf: pl.LazyFrame, checks: list[tuple[str, pl.Expr]], extra: dict[str, pl.Expr] | None = None
                 ) -> pl.LazyFrame:
    """Rows and prompts in, and the rows each filter drops among those the earlier ones kept; `extra`: more
    whole-input aggregates computed in the same pass (first_pass: whether each named value occurs)."""
    passed = pl.lit(True)
    exprs = [pl.len().alias("rows_in"), pl.col("id").n_unique().alias("prompts_in")]
    for name, expr in checks:
        exprs.append((passed & ~expr).sum().alias(name))
        passed = passed & expr
    return lf.select(exprs + [expr.alias(name) for name, expr in (extra or {}).items()])


def _narrow_rows(lf: pl.LazyFrame, checks: list[tuple[str, pl.Expr]], schema: list[str]) -> pl.LazyFrame:
    """The surviving rows' decision columns and row numbers: everything the prompt-level choices read."""
    wanted = ["id", "model", "sample", "verdict", "difficulty", rate_column(schema), "score_cv", "completion_tokens",
              *({score_column(by, schema) for by in SCORED} & set(schema))]
    cols = [ROW, *(c for c in wanted if c in schema)]
    keep = pl.lit(True)
    for _, expr in checks:
        keep = keep & expr
    return lf.with_row_index(ROW).filter(keep).select(cols)


def _named(cfg: SelectConfig) -> dict[str, tuple[str, tuple[str, ...]]]:
    """Column -> (option, values) for the options that name values of a column, each checked against the input."""
    bands = tuple(cfg.keep or ()) + tuple(n for n, _ in cfg.distribution or ())
    named = {"model": ("--model", cfg.models or ()), "difficulty": ("--keep/--distribution", bands),
             "domain": ("--domain", cfg.domains or ())}
    return {col: (option, values) for col, (option, values) in named.items() if values}


def check_names(named: dict[str, tuple[str, tuple[str, ...]]], present: dict[str, list[str]],
                known: dict[str, tuple[str, ...]]) -> None:
    """A value no row has and no stage defines is a typo (`--keep hardd`): a usage error listing the valid ones,
    never a run that exits 0 with 0 rows. Valid: the values in the input, and for bands and domains also the
    ones grade and collect define (a band with no rows in this input is still a real band)."""
    for col, (option, values) in named.items():
        valid = list(dict.fromkeys([*known.get(col, ()), *present.get(col, [])]))
        unknown = [v for v in values if v not in valid]
        if unknown:
            label = {"model": "models present", "difficulty": "valid bands"}.get(col, f"valid {col}s")
            raise BadInput(f"{option} {','.join(unknown)}: not in the input; {label}: {', '.join(valid) or 'none'}")


def known_names(bands: list[str] | None = None) -> dict[str, tuple[str, ...]]:
    """Column -> values that are valid even when no input row has them: grade's bands (`bands`, else its
    defaults) with `ungraded`, and the contract's domains."""
    from distill_cli.schema import DOMAINS
    from distill_cli.stages.grade.core import DEFAULT_BANDS, UNGRADED, parse_bands

    names = bands or [b.name for b in parse_bands(DEFAULT_BANDS)]
    return {"difficulty": (*names, UNGRADED), "domain": DOMAINS}


def first_pass(lf: pl.LazyFrame, cfg: SelectConfig, schema: list[str],
               known: dict[str, tuple[str, ...]] | None = None) -> tuple[dict, pl.DataFrame]:
    """The counters and the narrow surviving rows, from one shared scan of the input (collect_all)."""
    checks = row_filters(cfg, schema)
    named = _named(cfg)
    seen = {f"{SEEN}{col}={v}": pl.col(col).eq(v).any() for col, (_, values) in named.items() for v in values}
    counts, rows = pl.collect_all([_drop_counts(lf, checks, seen), _narrow_rows(lf, checks, schema)],
                                  engine="streaming")
    counts = counts.row(0, named=True)
    _check_seen(lf, named, counts, known_names() if known is None else known)
    counts = {k: v for k, v in counts.items() if not k.startswith(SEEN)}
    return {"rows_in": counts.pop("rows_in"), "prompts_in": counts.pop("prompts_in"), "dropped": counts}, rows


def _check_seen(lf: pl.LazyFrame, named: dict[str, tuple[str, tuple[str, ...]]], counts: dict,
                known: dict[str, tuple[str, ...]]) -> None:
    """check_names, paid for only when a named value is in no row and no stage defines it: the common case is
    answered by first_pass's per-value flags, not by a scan for every distinct value of the column."""
    if all(counts[f"{SEEN}{col}={v}"] or v in known.get(col, ()) for col, (_, values) in named.items()
           for v in values):
        return
    found = pl.collect_all([lf.select(pl.col(col).unique()) for col in named], engine="streaming")
    present = {col: sorted(str(v) for v in frame.to_series().to_list() if v is not None)
               for col, frame in zip(named, found, strict=True)}
    check_names(named, present, known)


def select_frame(lf: pl.LazyFrame, cfg: SelectConfig, known: dict[str, tuple[str, ...]] | None = None
                 ) -> tuple[pl.DataFrame, dict, list[str]]:
    """The selected rows (all input columns, plus pair_role/pair_id with --pairs), stats and warnings.

    `known`: column -> values valid even when no input row has them (grade's band names, the contract's domains)."""
    keep, stats, warnings = select_rows(lf, cfg, known)
    return final_rows(lf, keep, cfg, lf.collect_schema().names()), stats, warnings


def select_rows(lf: pl.LazyFrame, cfg: SelectConfig, known: dict[str, tuple[str, ...]] | None = None
                ) -> tuple[pl.DataFrame, dict, list[str]]:
    """Which rows to keep (ROW, and pair_id/pair_role with --pairs), decided on narrow columns only, with the
    stats and warnings: the wide rows are read once, by final_rows or streamed by position (runner.stream_rows)."""
    cfg.check()
    schema = lf.collect_schema().names()
    missing = [c for c in needed_columns(cfg, schema) if c not in schema]
    if missing:
        raise BadInput(f"select: the input lacks column(s) {', '.join(missing)} that these options read")
    stats, rows = first_pass(lf, cfg, schema, known)
    sample = SampleConfig(cfg.by, cfg.distribution, cfg.total, cfg.seed, cfg.prefer, rate_column(schema),
                          score_column(cfg.by, schema))
    rows, prompt_stats, warnings = pick_prompts(rows, sample)
    stats["dropped"].update(prompt_stats.pop("dropped"))
    stats.update(prompt_stats)
    if cfg.pairs:
        keep, dropped = pick_pairs(rows, sample)
        stats["dropped"]["no_pair"] = dropped
    else:
        keep, dropped = pick_per_prompt(rows, sample, cfg.per_prompt)
        if cfg.per_prompt is not None:
            stats["dropped"]["per_prompt"] = dropped
    mix_columns = ["id", *(["difficulty"] if "difficulty" in schema else [])]
    # the kept rows are among the narrow rows already in memory: their ids and bands need no new scan of the input
    stats.update(output_mix(rows.join(keep.select(ROW), on=ROW, how="semi").select(mix_columns)))
    if keep.height == 0:
        warnings.append("no rows selected; see the dropped counts in _stats.json")
    return keep, stats, warnings


def final_rows(lf: pl.LazyFrame, keep: pl.DataFrame, cfg: SelectConfig, schema: list[str]) -> pl.DataFrame:
    """Every input column of the chosen rows: a row-number filter keeps input order; pairs join their roles on."""
    numbered = lf.with_row_index(ROW)
    if cfg.pairs:
        base = numbered.drop([c for c in PAIR_COLUMNS if c in schema])
        out = base.join(keep.lazy(), on=ROW, how="inner", maintain_order="right")
    else:
        out = numbered.filter(pl.col(ROW).is_in(keep.get_column(ROW).implode()))
    return out.drop(ROW).collect(engine="streaming")


def output_mix(out: pl.DataFrame) -> dict:
    mix: dict = {"prompts_out": out.get_column("id").n_unique()}
    if "difficulty" in out.columns:
        prompts = out.select("id", "difficulty").unique()
        mix["difficulty_out"] = {str(k): v for k, v in prompts.group_by("difficulty").len().sort("difficulty").rows()}
    return mix
