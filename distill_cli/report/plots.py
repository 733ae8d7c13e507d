"""The report's figures: one PNG per question a user asks of a run. matplotlib (extra `report`) is imported on
first use with the Agg backend, so the report works on a headless node and nothing else pays for the import."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from distill_cli.errors import require
from distill_cli.report import data as rd
from distill_cli.report.summary import RunReport

SIZE = (7.0, 4.0)
DPI = 100
VERDICT_COLORS = {"correct": "#2e7d32", "incorrect": "#c62828", "no_answer": "#ef6c00", "unverifiable": "#9e9e9e",
                  "timeout": "#6a1b9a", "error": "#212121"}
PALETTE = ("#1565c0", "#ef6c00", "#2e7d32", "#6a1b9a", "#c62828", "#00838f", "#5d4037", "#9e9e9e")


def _plt():
    matplotlib = require("matplotlib", "report")
    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _figure(title: str):
    plt = _plt()
    fig, ax = plt.subplots(figsize=SIZE, dpi=DPI)
    ax.set_title(title, fontsize=11)
    ax.spines[["top", "right"]].set_visible(False)
    return fig, ax


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=DPI, format="png")
    _plt().close(fig)
    return path


def funnel(rep: RunReport, out: Path) -> Path | None:
    if not rep.stages:
        return None
    fig, ax = _figure("Rows per stage")
    labels = [f"{s.path.name}\n({s.stage})" if s.path.name != s.stage else s.stage for s in rep.stages]
    rows = [s.rows for s in rep.stages]
    bars = ax.barh(range(len(rows)), rows, color=PALETTE[0])
    ax.set_yticks(range(len(rows)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.bar_label(bars, labels=[f"{r:,}" for r in rows], padding=3, fontsize=8)
    ax.set_xlabel("rows")
    return _save(fig, out / "funnel.png")


def verdicts(rep: RunReport, out: Path) -> Path | None:
    df = rep.verdicts
    if df is None or df.height == 0:
        return None
    wide = df.pivot("verdict", index="model", values="n").fill_null(0).sort("model")
    fig, ax = _figure(f"Verdicts per model ({rep.verdicts_from.path.name})")
    models = wide["model"].to_list()
    left = [0] * len(models)
    order = [v for v in VERDICT_COLORS if v in wide.columns] + [c for c in wide.columns[1:] if c not in VERDICT_COLORS]
    for verdict in order:
        counts = wide[verdict].to_list()
        ax.barh(models, counts, left=left, label=verdict, color=VERDICT_COLORS.get(verdict, PALETTE[-1]))
        left = [a + b for a, b in zip(left, counts, strict=True)]
    ax.invert_yaxis()
    ax.set_xlabel("traces")
    ax.legend(fontsize=8, ncols=min(6, len(order)), loc="upper center", bbox_to_anchor=(0.5, -0.15), frameon=False)
    return _save(fig, out / "verdicts.png")


def _grouped(ax, groups: list[str], series: dict[str, list[float]]) -> None:
    """Side-by-side bars, one series per model."""
    width = 0.8 / max(1, len(series))
    for i, (name, values) in enumerate(series.items()):
        xs = [g + (i - (len(series) - 1) / 2) * width for g in range(len(groups))]
        ax.bar(xs, values, width=width, label=name, color=PALETTE[i % len(PALETTE)])
    ax.set_xticks(range(len(groups)), groups, fontsize=8)
    if len(series) > 1:
        ax.legend(fontsize=8, frameon=False)


def pass_rate(rep: RunReport, out: Path) -> Path | None:
    df = rep.pass_rates
    if df is None or df.height == 0:
        return None
    fig, ax = _figure(f"Pass rate per prompt ({rep.pass_rates_from.path.name})")
    series = {}
    for model in df["model"].unique().sort().to_list():
        values = df.filter(pl.col("model") == model)["pass_rate"].to_list()
        series[model] = [c for *_, c in rd.histogram(values, 0.0, 1.0, 10)]
    _grouped(ax, [f"{i / 10:.1f}" for i in range(10)], series)
    ax.set_xlabel("pass rate (bin start; last bin includes 1.0)")
    ax.set_ylabel("prompts")
    return _save(fig, out / "pass_rate.png")


def difficulty(rep: RunReport, out: Path) -> Path | None:
    df = rep.difficulty
    if df is None or df.height == 0:
        return None
    present = df["difficulty"].unique().to_list()
    bands = [b for b in rd.DIFFICULTY_ORDER if b in present] + sorted(b for b in present
                                                                      if b not in rd.DIFFICULTY_ORDER)
    series = {}
    for model in df["model"].unique().sort().to_list():
        counts = dict(df.filter(pl.col("model") == model).select("difficulty", "n").iter_rows())
        series[model] = [counts.get(b, 0) for b in bands]
    fig, ax = _figure(f"Difficulty bands ({rep.difficulty_from.path.name})")
    _grouped(ax, bands, series)
    ax.set_ylabel("prompts")
    return _save(fig, out / "difficulty.png")


def tokens(rep: RunReport, out: Path) -> Path | None:
    df = rep.tokens
    if df is None or df.height == 0:
        return None
    fig, ax = _figure(f"Completion tokens ({rep.tokens_from.path.name})")
    models = df["model"].unique().sort().to_list() if "model" in df.columns else ["all"]
    values = [df.filter(pl.col("model") == m)["completion_tokens"].drop_nulls().to_list() if "model" in df.columns
              else df["completion_tokens"].drop_nulls().to_list() for m in models]
    ax.hist(values, bins=20, label=models, color=list(PALETTE[: len(models)]), stacked=False)
    ax.set_xlabel("tokens")
    ax.set_ylabel("traces")
    if len(models) > 1:
        ax.legend(fontsize=8, frameon=False)
    return _save(fig, out / "tokens.png")


def compression(rep: RunReport, out: Path) -> Path | None:
    if rep.compression is None or rep.compression[0].height == 0:
        return None
    df, unit = rep.compression
    fig, ax = _figure(f"Length before and after compression ({rep.compression_from.path.name})")
    top = max(df["before"].max() or 1, df["after"].max() or 1)
    bins = [top * i / 20 for i in range(21)]
    ax.hist(df["before"].to_list(), bins=bins, alpha=0.6, label=f"before (mean {df['before'].mean():.0f})",
            color=PALETTE[1])
    ax.hist(df["after"].to_list(), bins=bins, alpha=0.6, label=f"after (mean {df['after'].mean():.0f})",
            color=PALETTE[0])
    ax.set_xlabel(unit)
    ax.set_ylabel("traces")
    ax.legend(fontsize=8, frameon=False)
    return _save(fig, out / "compression.png")


def dedupe(rep: RunReport, out: Path) -> Path | None:
    d = rep.dedupe
    if d is None:
        return None
    items = [("rows in", d["rows_in"], PALETTE[0])] if isinstance(d.get("rows_in"), int) else []
    items.append(("duplicates", (d["duplicates"] or {}).get("rows", 0), PALETTE[1]))
    cont = d["contamination"] or {"rows": 0, "split": {}}
    if cont["split"]:
        items += [(f"contam.: {name}", n, PALETTE[4]) for name, n in cont["split"].items()]
    else:
        items.append(("contaminated", cont["rows"], PALETTE[4]))
    items.append(("rows out", d["rows_out"], PALETTE[2]))
    labels, values, colors = (list(x) for x in zip(*items, strict=True))
    fig, ax = _figure("Deduplication and decontamination")
    bars = ax.bar(range(len(values)), values, color=colors)
    ax.bar_label(bars, labels=[f"{v:,}" for v in values], padding=2, fontsize=8)
    ax.set_xticks(range(len(values)), labels, fontsize=8, rotation=15)
    ax.set_ylabel("rows")
    return _save(fig, out / "dedupe.png")


def filtered(rep: RunReport, out: Path) -> Path | None:
    d = rep.filter
    split = ((d or {}).get("filtered") or {}).get("split") or {}
    if not split:
        return None
    labels, values = list(split), list(split.values())
    fig, ax = _figure(f"Traces dropped by filter, by reason ({Path(d['path']).name})")
    bars = ax.barh(range(len(values)), values, color=PALETTE[1])
    ax.bar_label(bars, labels=[f"{v:,}" for v in values], padding=2, fontsize=8)
    ax.set_yticks(range(len(values)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("traces")
    return _save(fig, out / "filter.png")


FIGURES = (("funnel", funnel), ("verdicts", verdicts), ("pass_rate", pass_rate), ("difficulty", difficulty),
           ("tokens", tokens), ("compression", compression), ("filter", filtered),
           ("dedupe", dedupe))


def render_all(rep: RunReport, out: Path) -> dict[str, Path]:
    """Every figure whose data exists, by name; a figure without data is left out, not drawn empty."""
    made = {}
    for name, draw in FIGURES:
        path = draw(rep, out)
        if path is not None:
            made[name] = path
    return made
