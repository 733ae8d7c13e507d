"""inspect: a summary of any stage output, as plain data the command renders."""

from __future__ import annotations

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
