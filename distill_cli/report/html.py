"""report.html: one self-contained page (figures as base64 data URIs, inline CSS), readable offline and mailable.

Each figure sits beside a small table of the same numbers, so the page still says everything when images are
stripped, and numbers can be copied.
"""

from __future__ import annotations

import base64
import html
import time
from pathlib import Path

import polars as pl

from distill_cli import __version__
from distill_cli.report import data as rd
from distill_cli.report.summary import RunReport

CSS = """
body{font-family:system-ui,-apple-system,sans-serif;margin:2rem auto;max-width:1000px;color:#222;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem} h2{font-size:1.2rem;margin-top:2rem;border-bottom:1px solid #ddd}
.meta{color:#666;font-size:.9rem} table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}
td,th{border:1px solid #ddd;padding:.25rem .6rem;text-align:left} th{background:#f5f5f5}
td.n{text-align:right;font-variant-numeric:tabular-nums} img{max-width:100%;height:auto}
.missing{color:#a15c00} .src{color:#666;font-size:.85rem}
"""


def esc(value) -> str:
    return html.escape("" if value is None else str(value))


def table(header: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(_td(v) for v in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _td(value) -> str:
    if isinstance(value, float):
        return f'<td class="n">{value:.3g}</td>'
    if isinstance(value, int) and not isinstance(value, bool):
        return f'<td class="n">{value:,}</td>'
    return f"<td>{esc(value)}</td>"


def image(path: Path | None, alt: str) -> str:
    if path is None:
        return ""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{esc(alt)}">'


def _source(stage: rd.Stage | None) -> str:
    return f'<p class="src">from <code>{esc(stage.path)}</code> ({esc(stage.stage)})</p>' if stage else ""


def _stages(rep: RunReport) -> str:
    rows = [[s.path.name, s.stage, s.rows, "yes" if s.complete else "no", len(s.files),
             str(s.manifest.get("updated", "")), rep.notes.get(s.path, "")] for s in rep.stages]
    missing = (f'<p class="missing">Not in this run: {esc(", ".join(rep.missing))}.</p>' if rep.missing else
               "<p>Every pipeline stage is present.</p>")
    cost = f"<p>{esc(rep.cost)}</p>" if rep.cost else ""
    return ("<h2>Stages</h2>" + table(["directory", "stage", "rows", "complete", "shards", "updated", "note"], rows)
            + cost + missing + _exports(rep))


def _exports(rep: RunReport) -> str:
    if not rep.exports:
        return ""
    keys = ("format", "shape", "records", "input", "card")
    rows = [[str(e.path), *(e.stamp.get(k, "-") for k in keys)] for e in rep.exports]
    return "<h2>Exports</h2>" + table(["file", *keys], rows)


def _wide(df: pl.DataFrame, on: str) -> tuple[list[str], list[list]]:
    wide = df.pivot(on, index="model", values="n").fill_null(0).sort("model")
    return wide.columns, [list(r) for r in wide.iter_rows()]


def _section(title: str, figure: str, body: str, source: rd.Stage | None) -> str:
    return f"<h2>{esc(title)}</h2>{_source(source)}{figure}{body}"


def _sections(rep: RunReport, images: dict[str, Path]) -> list[str]:
    out = [_section("Rows per stage", image(images.get("funnel"), "rows per stage"),
                    table(["directory", "stage", "rows"], [list(r) for r in rd.funnel(rep.stages)]), None)]
    if rep.verdicts is not None:
        out.append(_section("Verdicts per model", image(images.get("verdicts"), "verdicts per model"),
                            table(*_wide(rep.verdicts, "verdict")), rep.verdicts_from))
    if rep.pass_rates is not None:
        stats = (rep.pass_rates.group_by("model").agg(prompts=pl.len(), mean=pl.col("pass_rate").mean(),
                                                      solved=(pl.col("pass_rate") > 0).sum()).sort("model"))
        out.append(_section("Pass rate per prompt", image(images.get("pass_rate"), "pass-rate distribution"),
                            table(["model", "prompts", "mean pass rate", "solved at least once"],
                                  [list(r) for r in stats.iter_rows()]), rep.pass_rates_from))
    if rep.difficulty is not None:
        out.append(_section("Difficulty", image(images.get("difficulty"), "difficulty bands"),
                            table(*_wide(rep.difficulty, "difficulty")), rep.difficulty_from))
    if rep.tokens is not None and rep.tokens.height:
        out.append(_section("Completion tokens", image(images.get("tokens"), "completion tokens"),
                            _token_table(rep.tokens), rep.tokens_from))
    if rep.compression is not None and rep.compression[0].height:
        df, unit = rep.compression
        rows = [["before", df["before"].mean(), df["before"].median(), df["before"].sum()],
                ["after", df["after"].mean(), df["after"].median(), df["after"].sum()]]
        out.append(_section("Compression", image(images.get("compression"), "lengths before and after"),
                            f"<p>Unit: {esc(unit)}.</p>" + table(["", "mean", "median", "total"], rows),
                            rep.compression_from))
    if rep.filter is not None:
        out.append(_section("Trace quality filter", image(images.get("filter"), "filter drop reasons"),
                            _filter_table(rep.filter), None))
    if rep.dedupe is not None:
        out.append(_section("Deduplication and decontamination", image(images.get("dedupe"), "dedupe counts"),
                            _dedupe_table(rep.dedupe), None))
    return out


def _token_table(df: pl.DataFrame) -> str:
    keys = ["model"] if "model" in df.columns else []
    aggs = [pl.len().alias("traces"), pl.col("completion_tokens").mean().alias("mean"),
            pl.col("completion_tokens").median().alias("median"), pl.col("completion_tokens").max().alias("max")]
    if "finish_reason" in df.columns:
        aggs.append((pl.col("finish_reason") == "length").sum().alias("truncated (length)"))
    stats = df.group_by(keys).agg(aggs).sort(keys) if keys else df.select(aggs)
    return table(stats.columns, [list(r) for r in stats.iter_rows()])


def _dedupe_table(d: dict) -> str:
    rows = [["rows in", d.get("rows_in") if d.get("rows_in") is not None else "-"], ["rows out", d["rows_out"]]]
    for key, label in (("duplicates", "duplicates removed"), ("contamination", "contaminated removed")):
        side = d[key]
        rows.append([label, side["rows"] if side else "none recorded"])
        for name, n in (side or {}).get("split", {}).items():
            rows.append([f"  {side['by']}: {name}", n])
    params = ", ".join(f"{k}={v}" for k, v in d["params"].items())
    return table(["", "rows"], rows) + (f"<p class='src'>params: {esc(params)}</p>" if params else "")


def _filter_table(d: dict) -> str:
    side = d["filtered"]
    rows = [["rows in", d.get("rows_in") if d.get("rows_in") is not None else "-"], ["rows out", d["rows_out"]],
            ["dropped", side["rows"] if side else "none recorded"]]
    rows += [[f"  reason: {name}", n] for name, n in (side or {}).get("split", {}).items()]
    rows += [[f"  failed check (any): {name}", n] for name, n in d["failed_checks"].items()]
    params = ", ".join(f"{k}={v}" for k, v in d["params"].items() if k != "refusals")
    return table(["", "rows"], rows) + (f"<p class='src'>params: {esc(params)}</p>" if params else "")


def render(rep: RunReport, images: dict[str, Path]) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>distill report: "
             f"{esc(rep.run_dir.name)}</title><style>{CSS}</style></head><body>",
             f"<h1>distill report: {esc(rep.run_dir.name)}</h1>",
             f"<p class='meta'><code>{esc(rep.run_dir.resolve())}</code> &middot; generated {stamp} by distill "
             f"{esc(__version__)}</p>", _stages(rep), *_sections(rep, images), "</body></html>"]
    return "\n".join(parts)
