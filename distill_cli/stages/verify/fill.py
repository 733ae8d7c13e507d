"""verify's input side: make a minimal trace a full one, and refuse duplicated (id, model, sample) keys.

Traces come from other tools as often as from `distill generate`: {id, prompt, answer, response} is enough to
verify, but grade groups by (`id`, `model`) and counts samples, so an output without `model` or with `sample`
typed as text is a dead end one stage later. verify is the first stage that sees traces, so it fills what it can
with documented defaults and casts to the contract's types (docs/stages/verify.md, "Minimal traces"):

- `model`: `--model-name`, else `unknown`, where the column is missing or null;
- `sample`: numbered 0, 1, ... within (`id`, `model`) in input order, where the column is missing;
- `domain`: `--domain`, else the domain verify used for the row (from `tests`/`answer`), where missing or null;
- `tests` given as a list of statements (Hugging Face's `list<str>`) becomes its JSON string;
- every other traces column that is missing is added as nulls; present ones are cast to the contract's type.

A (id, model, sample) key seen twice would make grade count a prompt's samples twice, so it is an error here; with
`--drop-duplicates` the first of identical rows is kept, and rows that differ under one key stay an error (two runs
merged without renumbering their samples). The plan is made once over the narrow key columns of the whole input
(`plan_fill`), and `TraceFill.apply` applies it to each shard, so numbering and dropping do not depend on shards.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from distill_cli.errors import BadInput
from distill_cli.schema import TRACES
from distill_cli.stages.verify.core import row_domain

DEFAULT_MODEL = "unknown"
KEY = ("id", "model", "sample")
_ROW = "__fill_row"


@dataclass(frozen=True)
class TraceFill:
    """What to fill in each shard; `samples` and `keep` are over the whole input's rows, in input order."""

    model: str = DEFAULT_MODEL
    domain: str = "auto"
    samples: pl.Series | None = None  # the numbering, when the input has no `sample` column
    keep: pl.Series | None = None  # False for a later copy of an identical row under a duplicated key
    offsets: dict[str, int] = field(default_factory=dict)  # input file -> position of its first row

    def apply(self, df: pl.DataFrame, file: Path | None, start: int) -> tuple[pl.DataFrame, dict]:
        """The shard's rows filled, cast and de-duplicated; stats count what was filled and dropped."""
        at = self.offsets.get(str(file), 0) + start
        filled: dict[str, int] = {}
        if self.samples is not None:
            df = df.with_columns(self.samples.slice(at, df.height).alias("sample"))
            filled["sample"] = df.height
        df, n = _fill_model(df, self.model)
        filled["model"] = n
        df, n = _fill_domain(df, self.domain)
        filled["domain"] = n
        df = _cast(_tests_json(df))
        stats: dict = {"filled": {k: v for k, v in filled.items() if v}}
        if self.keep is not None:
            mask = self.keep.slice(at, df.height)
            stats["dropped"] = {"duplicate": int((~mask).sum())}
            df = df.filter(mask)
        return df, stats


def _fill_model(df: pl.DataFrame, model: str) -> tuple[pl.DataFrame, int]:
    if "model" not in df.columns:
        return df.with_columns(pl.lit(model, pl.String).alias("model")), df.height
    missing = df.get_column("model").null_count()
    return (df.with_columns(pl.col("model").cast(pl.String).fill_null(model)) if missing else df), missing


def _fill_domain(df: pl.DataFrame, forced: str) -> tuple[pl.DataFrame, int]:
    have = df.get_column("domain").cast(pl.String) if "domain" in df.columns else pl.Series([None] * df.height,
                                                                                             dtype=pl.String)
    missing = have.null_count()
    if not missing:
        return df, 0
    answers = df.get_column("answer").cast(pl.String).to_list() if "answer" in df.columns else [None] * df.height
    tests = df.get_column("tests").to_list() if "tests" in df.columns else [None] * df.height
    guessed = [d if d is not None else row_domain(None, a, t, forced)  # type: ignore[arg-type]  # forced: a Domain or None
               for d, a, t in zip(have.to_list(), answers, tests, strict=True)]
    return df.with_columns(pl.Series("domain", guessed, pl.String)), missing


def _tests_json(df: pl.DataFrame) -> pl.DataFrame:
    """A list of test statements is the JSON form's list: the contract stores it as that JSON string."""
    if "tests" in df.columns and isinstance(df.schema["tests"], pl.List):
        values = [None if v is None else json.dumps(list(v)) for v in df.get_column("tests").to_list()]
        return df.with_columns(pl.Series("tests", values, pl.String))
    return df


def _cast(df: pl.DataFrame) -> pl.DataFrame:
    """Every traces column present and typed, the missing ones as nulls (appended: input columns keep their order)."""
    present = [pl.col(c).cast(t) for c, t in TRACES.items() if c in df.columns and df.schema[c] != t]
    missing = [pl.lit(None, t).alias(c) for c, t in TRACES.items() if c not in df.columns]
    return df.with_columns(present + missing) if present or missing else df


def check_types(lf: pl.LazyFrame, schema: dict[str, pl.DataType], where: str) -> None:
    """Refuse, in one line, a traces column that cannot become the contract's type (before any work starts)."""
    tests = schema.get("tests")
    if tests is not None and tests not in (pl.String, pl.Null) and tests != pl.List(pl.String):
        raise BadInput(f"{where}: column 'tests' has type {tests}; verify reads a JSON string (a list of "
                       "statements, {inputs, outputs} or {fn_name, inputs, outputs}) or a list of test statements")
    for name, dtype in TRACES.items():
        have = schema.get(name)
        if have is None or have == dtype or have == pl.Null or name == "tests":
            continue
        bad = lf.select(pl.col(name)).filter(pl.col(name).is_not_null() & pl.col(name).cast(dtype, strict=False)
                                             .is_null()).head(1).collect()
        if bad.height:
            raise BadInput(f"{where}: column '{name}' has type {have} and value {bad.item()!r} is not a {dtype}")


def plan_fill(lf: pl.LazyFrame, schema: dict[str, pl.DataType], files: list[tuple[Path, int]], where: str,
              model: str = DEFAULT_MODEL, domain: str = "auto", drop_duplicates: bool = False) -> TraceFill:
    """One scan of the key columns of the whole input: sample numbers, and the duplicated keys (see module doc)."""
    check_types(lf, schema, where)
    offsets, at = {}, 0
    for path, rows in files:
        offsets[str(path)] = at
        at += rows
    model_expr = (pl.col("model").cast(pl.String).fill_null(model) if "model" in schema
                  else pl.lit(model, pl.String)).alias("model")
    if "sample" not in schema:  # numbered in input order: unique by construction
        numbering = pl.int_range(pl.len(), dtype=pl.Int64).over("id", "model").alias("sample")
        numbers = lf.select(pl.col("id"), model_expr).select(numbering).collect().to_series()
        return TraceFill(model, domain, numbers, None, offsets)
    keys = lf.select(pl.col("id").cast(pl.String), model_expr, pl.col("sample").cast(pl.Int64))
    keep = _duplicates(lf, keys, model_expr, where, drop_duplicates)
    return TraceFill(model, domain, None, keep, offsets)


def _duplicates(lf: pl.LazyFrame, keys: pl.LazyFrame, model_expr: pl.Expr, where: str,
                drop: bool) -> pl.Series | None:
    counted = keys.with_row_index(_ROW).with_columns(pl.len().over(KEY).alias("__n"))
    dup = counted.filter(pl.col("__n") > 1).sort(_ROW).collect()
    if dup.height == 0:
        return None
    first = dup.row(0, named=True)
    n_keys = dup.select(KEY).unique().height
    named = f"(id {first['id']!r}, model {first['model']!r}, sample {first['sample']})"
    if not drop:
        raise BadInput(f"{where}: {n_keys} (id, model, sample) key(s) appear more than once, the first {named} "
                       f"{first['__n']} times; pass --drop-duplicates to keep the first of identical rows, or "
                       "renumber samples when merging runs")
    rows = dup.get_column(_ROW)
    whole = (lf.with_row_index(_ROW).filter(pl.col(_ROW).is_in(rows.implode()))
             .select(_ROW, pl.struct(pl.exclude(_ROW)).hash(7).alias("__h")).collect())
    dup = dup.join(whole, on=_ROW).sort(_ROW)
    differing = dup.group_by(KEY, maintain_order=True).agg(pl.col("__h").n_unique().alias("k")).filter(
        pl.col("k") > 1)
    if differing.height:
        d = differing.row(0, named=True)
        raise BadInput(f"{where}: {differing.height} (id, model, sample) key(s) hold rows that differ, the first "
                       f"(id {d['id']!r}, model {d['model']!r}, sample {d['sample']}); --drop-duplicates drops only "
                       "identical copies: renumber samples when merging runs")
    later = dup.filter(pl.int_range(pl.len()).over(KEY) > 0).get_column(_ROW)
    total = keys.select(pl.len()).collect().item()
    return pl.Series("keep", [True] * total, pl.Boolean).scatter(later, False)


class Filled:
    """A shard `process` that fills its rows first (picklable, so Ray tasks run it as the local command does)."""

    def __init__(self, fill: TraceFill, inner):
        self.fill, self.inner = fill, inner

    def __call__(self, df: pl.DataFrame, task) -> tuple[pl.DataFrame, dict]:
        unit = task.unit
        df, stats = self.fill.apply(df, unit.file if unit else None, unit.start if unit else 0)
        out, more = self.inner(df, task)
        return out, {**more, **{k: v for k, v in stats.items() if v}}
