"""inspect: a summary of any stage output, as plain data, and its rendering in the terminal."""

from __future__ import annotations

import json

import polars as pl

from distill_cli.stagedir.inputs import InputSet

PREFERRED = ["id", "model", "sample", "prompt", "answer", "response", "verdict", "difficulty"]


def summarize(inp: InputSet, sample_rows: int = 3, width: int = 60) -> dict:
    lf = inp.scan()
    nulls = lf.select(pl.all().null_count()).collect().row(0, named=True)
    head = lf.head(sample_rows).collect()
    shown = [c for c in PREFERRED if c in head.columns] or head.columns[:6]
    sample = [[_clip(v, width) for v in row] for row in head.select(shown).iter_rows()]
    return {
        "rows": inp.total_rows,
        "shards": len(inp.files),
        "manifest": inp.upstream,
        "columns": [{"name": n, "type": str(t), "nulls": nulls[n]} for n, t in inp.schema.items()],
        "sample_columns": shown,
        "sample": sample,
    }


def _clip(value, width: int) -> str:
    text = "" if value is None else str(value).replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def show(summary: dict, path: str) -> None:
    """The summary as rich tables: columns, the manifest's params and stats, sample rows."""
    from rich.table import Table

    from distill_cli.progress import make_console

    out = make_console()
    m = summary["manifest"] or {}
    out.print(f"[bold]{path}[/bold]  stage={m.get('stage', '-')}  rows={summary['rows']}  "
              f"shards={summary['shards']}  complete={m.get('complete', '-')}")
    cols = Table("column", "type", "nulls", title="columns")
    for c in summary["columns"]:
        cols.add_row(c["name"], c["type"], str(c["nulls"]))
    out.print(cols)
    if m.get("params"):
        out.print("[bold]params[/bold]", json.dumps(m["params"], default=str))
    if m.get("stats"):
        out.print("[bold]stats[/bold]", json.dumps(m["stats"], default=str))
    sample = Table(*summary["sample_columns"], title="sample rows", show_lines=True)
    for row in summary["sample"]:
        sample.add_row(*row)
    out.print(sample)
