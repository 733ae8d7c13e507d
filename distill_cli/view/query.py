"""The stage table's queries: filters, sort and paging as polars expressions over a lazy scan of the shards.

A page is found in two passes so a million-row stage stays cheap: the first reads only the columns the filters
and the sort need and yields the page's row numbers; the second reads the page's rows alone, by position, from the
shards that hold them (Parquet slices), so the long text columns of the other rows are never decoded.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from distill_cli.errors import BadInput

ROW = "row"  # a row's position in the stage: shards in order, rows in shard order (dedupe's `row` is the same)
LENGTH = "length"
MAX_LIMIT = 500
PREVIEW = 240
# what a page row holds (those the stage has), besides `row`, `length` and the previews of prompt and response
TABLE_COLUMNS = ("id", "model", "sample", "domain", "source", "verdict", "score", "extracted", "verifier",
                 "finish_reason", "difficulty", "pass_rate", "n_samples", "completion_tokens", "compression",
                 "compression_ratio")
SORTABLE = (ROW, LENGTH, "id", "model", "sample", "domain", "verdict", "score", "difficulty", "pass_rate",
            "completion_tokens", "compression_ratio")
CHOICES = ("verdict", "domain", "model", "difficulty")


@dataclass(frozen=True)
class RowQuery:
    """The stage table's filters, sort and page; every field comes from the URL's query string."""

    verdict: tuple[str, ...] = ()
    domain: tuple[str, ...] = ()
    model: tuple[str, ...] = ()
    difficulty: tuple[str, ...] = ()
    pass_min: float | None = None
    pass_max: float | None = None
    len_min: int | None = None
    len_max: int | None = None
    q: str = ""
    sort: str = ROW
    desc: bool = False
    offset: int = 0
    limit: int = 50


def _number(params: dict[str, list[str]], key: str, kind: type, lo: float | None = None):
    values = [v for v in params.get(key, []) if v.strip()]
    if not values:
        return None
    try:
        value = kind(values[-1])
    except ValueError:
        raise BadInput(f"query parameter {key}: not a number: {values[-1][:40]!r}") from None
    if lo is not None and value < lo:
        raise BadInput(f"query parameter {key}: must be at least {lo}")
    return value


def _choices(params: dict[str, list[str]], key: str) -> tuple[str, ...]:
    """`verdict=a&verdict=b` or `verdict=a,b`: values are matched exactly, none means no filter."""
    return tuple(dict.fromkeys(p.strip() for v in params.get(key, []) for p in v.split(",") if p.strip()))


def parse_query(params: dict[str, list[str]]) -> RowQuery:
    """A RowQuery from parse_qs output; a malformed value is BadInput (the server answers 400 with its text)."""
    sort = (params.get("sort") or [ROW])[-1] or ROW
    desc = sort.startswith("-") or (params.get("desc") or [""])[-1] in ("1", "true", "on")
    sort = sort.lstrip("-")
    if sort not in SORTABLE:
        raise BadInput(f"query parameter sort: {sort[:40]!r} is not one of {', '.join(SORTABLE)}")
    limit = _number(params, "limit", int, 1)
    return RowQuery(
        **{key: _choices(params, key) for key in CHOICES},
        pass_min=_number(params, "pass_min", float), pass_max=_number(params, "pass_max", float),
        len_min=_number(params, "len_min", int), len_max=_number(params, "len_max", int),
        q=(params.get("q") or [""])[-1].strip(), sort=sort, desc=desc,
        offset=_number(params, "offset", int, 0) or 0, limit=min(limit or 50, MAX_LIMIT))


def length_expr(columns: list[str]) -> pl.Expr:
    """A trace's length: teacher tokens when recorded, else characters of the completion (or response, prompt)."""
    if "completion_tokens" in columns:
        return pl.col("completion_tokens").cast(pl.Int64)
    text = next((c for c in ("completion", "response", "prompt") if c in columns), None)
    return pl.col(text).str.len_chars().cast(pl.Int64) if text else pl.lit(None, pl.Int64)


def filter_expr(q: RowQuery, columns: list[str]) -> pl.Expr | None:
    """One predicate for every filter set; a filter on a column the stage lacks matches no row."""
    parts: list[pl.Expr] = []
    for key in CHOICES:
        values = getattr(q, key)
        if values:
            parts.append(pl.col(key).cast(pl.String).is_in(list(values)) if key in columns else pl.lit(False))
    if q.pass_min is not None or q.pass_max is not None:
        if "pass_rate" not in columns:
            parts.append(pl.lit(False))
        else:
            rate = pl.col("pass_rate")
            parts += [rate >= q.pass_min] if q.pass_min is not None else []
            parts += [rate <= q.pass_max] if q.pass_max is not None else []
    if q.len_min is not None:
        parts.append(length_expr(columns) >= q.len_min)
    if q.len_max is not None:
        parts.append(length_expr(columns) <= q.len_max)
    if q.q:
        pattern = "(?i)" + re.escape(q.q)
        texts = [pl.col(c).str.contains(pattern).fill_null(False) for c in ("prompt", "response") if c in columns]
        parts.append(pl.any_horizontal(texts) if texts else pl.lit(False))
    if not parts:
        return None
    return pl.all_horizontal(parts).fill_null(False)


def page_rows(lf: pl.LazyFrame, q: RowQuery, columns: list[str], total_rows: int) -> tuple[int, list[int]]:
    """(rows matching, row numbers of the requested page): reads only the filter and sort columns."""
    pred = filter_expr(q, columns)
    if pred is None and q.sort == ROW:
        if q.desc:
            stop = max(total_rows - q.offset, 0)
            return total_rows, list(range(stop - 1, max(stop - q.limit, 0) - 1, -1))
        return total_rows, list(range(q.offset, min(q.offset + q.limit, total_rows)))
    lf = lf.with_row_index(ROW).with_columns(pl.col(ROW).cast(pl.Int64))
    if pred is not None:
        lf = lf.filter(pred)
    key = length_expr(columns) if q.sort == LENGTH else pl.col(q.sort) if q.sort in columns else pl.col(ROW)
    ordered = lf.select(ROW, key.alias("__key")).sort("__key", ROW, descending=[q.desc, q.desc], nulls_last=True)
    total, page = pl.collect_all([lf.select(pl.len()), ordered.slice(q.offset, q.limit).select(ROW)])
    return int(total.item()), page[ROW].to_list()


def _runs(rows: list[int], starts: list[int], counts: tuple[int, ...]) -> list[tuple[int, int, int]]:
    """(shard, first local row, length) of each run of consecutive rows inside one shard."""
    runs: list[tuple[int, int, int]] = []
    for row in sorted(set(rows)):
        shard = next((i for i in range(len(counts)) if starts[i] <= row < starts[i] + counts[i]), None)
        if shard is None:
            continue
        local = row - starts[shard]
        if runs and runs[-1][0] == shard and runs[-1][1] + runs[-1][2] == local:
            runs[-1] = (shard, runs[-1][1], runs[-1][2] + 1)
        else:
            runs.append((shard, local, 1))
    return runs


def fetch(files: tuple[Path, ...], counts: tuple[int, ...], rows: list[int],
          columns: list[str] | None = None) -> pl.DataFrame:
    """The given stage rows, in the order given, read as slices of the shards holding them."""
    starts = [sum(counts[:i]) for i in range(len(counts))]
    pieces: list[pl.LazyFrame] = []
    for shard, local, n in _runs(rows, starts, counts):
        lf = pl.scan_parquet(files[shard])
        if columns is not None:
            lf = lf.select(columns)
        rownum = pl.int_range(starts[shard] + local, starts[shard] + local + n, dtype=pl.Int64).alias(ROW)
        pieces.append(lf.slice(local, n).with_columns(rownum))
    if not pieces:
        return pl.DataFrame()
    got = pl.concat(pl.collect_all(pieces), how="diagonal_relaxed")
    order = pl.DataFrame({ROW: rows}, schema={ROW: pl.Int64}).with_row_index("__at")
    return order.join(got, on=ROW, how="inner").sort("__at").drop("__at")


def table_rows(df: pl.DataFrame, columns: list[str]) -> list[dict]:
    """A page's rows as JSON-ready dicts: the table columns, the length and the start of prompt and response."""
    if df.is_empty():
        return []
    keep = [ROW, *(c for c in TABLE_COLUMNS if c in df.columns)]
    out = df.select(*keep, length_expr(columns).alias(LENGTH),
                    *(pl.col(c).str.slice(0, PREVIEW).alias(f"{c}_preview") for c in ("prompt", "response")
                      if c in df.columns))
    return out.to_dicts()


def prompt_rows(lf: pl.LazyFrame, prompt_id: str) -> list[int]:
    """Row numbers of one prompt's traces, read from the id column alone."""
    found = lf.select(pl.col("id")).with_row_index(ROW).filter(pl.col("id") == prompt_id).select(ROW).collect()
    return [int(r) for r in found[ROW]]


def facets(lf: pl.LazyFrame, columns: list[str], limit: int = 200) -> dict[str, list[str]]:
    """The values the choice filters offer: each column's distinct values (few: verdicts, domains, models)."""
    present = [c for c in CHOICES if c in columns]
    if not present:
        return {}
    frames = pl.collect_all([lf.select(pl.col(c).cast(pl.String).drop_nulls().unique().sort().head(limit))
                             for c in present])
    return {c: f[c].to_list() for c, f in zip(present, frames, strict=True)}
