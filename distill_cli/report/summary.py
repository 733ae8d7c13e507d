"""The numbers of one run, gathered once and shared by the plots, the HTML page and the terminal table."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from distill_cli.report import data as rd


@dataclass
class RunReport:
    run_dir: Path
    stages: list[rd.Stage]
    verdicts: pl.DataFrame | None = None  # model, verdict, n
    verdicts_from: rd.Stage | None = None
    pass_rates: pl.DataFrame | None = None  # id, model, pass_rate
    pass_rates_from: rd.Stage | None = None
    difficulty: pl.DataFrame | None = None  # model, difficulty, n
    difficulty_from: rd.Stage | None = None
    tokens: pl.DataFrame | None = None  # completion_tokens, model?, finish_reason?
    tokens_from: rd.Stage | None = None
    compression: tuple[pl.DataFrame, str] | None = None  # (before, after), unit
    compression_from: rd.Stage | None = None
    dedupe: dict | None = None
    filter: dict | None = None
    exports: list[rd.Export] = field(default_factory=list)
    notes: dict[Path, str] = field(default_factory=dict)
    cost: str | None = None  # the run's cost line, when a stage recorded one

    @property
    def present(self) -> list[str]:
        return sorted({s.stage for s in self.stages}, key=lambda n: rd.STAGE_ORDER.index(n)
                      if n in rd.STAGE_ORDER else len(rd.STAGE_ORDER))

    @property
    def missing(self) -> list[str]:
        return [s for s in rd.STAGE_ORDER if s not in self.present and s not in rd.OPTIONAL_STAGES]

    @property
    def models(self) -> list[str]:
        seen: list[str] = []
        for df in (self.verdicts, self.pass_rates, self.difficulty):
            if df is not None:
                seen += [m for m in df["model"].unique().sort().to_list() if m not in seen]
        return seen


def gather(run_dir: Path) -> RunReport:
    stages = rd.find_stages(run_dir)
    rep = RunReport(run_dir, stages)
    rep.verdicts_from = rd.first(stages, "verify", "grade", "select", "compress", "dedupe", column="verdict")
    rep.verdicts = rd.verdict_counts(rep.verdicts_from)
    rep.pass_rates_from = rd.first(stages, "grade", column="pass_rate") or rep.verdicts_from
    rep.pass_rates = rd.pass_rates(rep.pass_rates_from)
    rep.difficulty_from = rd.first(stages, "grade", "select", column="difficulty")
    rep.difficulty = rd.difficulty_counts(rep.difficulty_from)
    rep.tokens_from = rd.first(stages, "generate", "verify", "grade", column="completion_tokens")
    rep.tokens = rd.token_lengths(rep.tokens_from)
    rep.compression_from = rd.last(stages, "compress")
    rep.compression = rd.compression_lengths(rep.compression_from)
    rep.dedupe = rd.dedupe_summary(rd.last(stages, "dedupe"))
    rep.filter = rd.filter_summary(rd.last(stages, "filter"))
    rep.exports = rd.find_exports(run_dir)
    rep.notes = {s.path: stage_note(rep, s) for s in stages}
    rep.cost = run_cost(stages)
    return rep


def _usd(usd: float) -> str:
    return f"${usd:,.2f}" if usd >= 1 else f"${usd:.4f}"


def cost_note(stage: rd.Stage) -> str:
    """A generate stage's recorded cost (stats `cost`, engines/pricing.py), or why it has none."""
    cost = stage.stats.get("cost")
    if not isinstance(cost, dict):
        return ""
    return f"cost {_usd(cost['usd'])}" if cost.get("usd") is not None else "cost: no price (tokens recorded)"


def run_cost(stages: list[rd.Stage]) -> str | None:
    """The cost of the run: the sum over the stages that recorded one, naming those that could not."""
    costed = [(s, s.stats["cost"]) for s in stages if isinstance(s.stats.get("cost"), dict)]
    if not costed:
        return None
    known = [c["usd"] for _, c in costed if c.get("usd") is not None]
    unpriced = [s.path.name for s, c in costed if c.get("usd") is None]
    line = f"cost of the run: {_usd(sum(known))} ({len(known)} priced stage(s))"
    return line + (f"; no price for {', '.join(unpriced)} (tokens recorded)" if unpriced else "")


def _pct(part: float, whole: float) -> str:
    return f"{part / whole:.0%}" if whole else "-"


def stage_note(rep: RunReport, stage: rd.Stage) -> str:
    """One line on what the stage did, for the terminal table and the stages table of the page."""
    rows_in = stage.stats.get("rows_in")
    note = ""
    if stage is rep.verdicts_from and rep.verdicts is not None:
        correct = rep.verdicts.filter(pl.col("verdict") == "correct")["n"].sum()
        note = f"correct {correct}/{rep.verdicts['n'].sum()} ({_pct(correct, rep.verdicts['n'].sum())})"
    elif stage is rep.difficulty_from and rep.difficulty is not None:
        mix = rep.difficulty.group_by("difficulty").agg(pl.col("n").sum())
        order = {d: i for i, d in enumerate(rd.DIFFICULTY_ORDER)}
        mix = sorted(mix.iter_rows(), key=lambda r: order.get(r[0], len(order)))
        note = " ".join(f"{d} {n}" for d, n in mix)
    elif stage is rep.compression_from and rep.compression is not None and rep.compression[0].height:
        df, unit = rep.compression
        note = f"{_pct(df['after'].sum(), df['before'].sum())} of {unit.split(' ')[0]} kept"
    elif stage.stage == "dedupe" and rep.dedupe is not None:
        dup = (rep.dedupe["duplicates"] or {}).get("rows", 0)
        cont = (rep.dedupe["contamination"] or {}).get("rows", 0)
        note = f"-{dup} duplicates, -{cont} contaminated"
    elif stage.stage == "filter" and rep.filter is not None:
        note = f"-{(rep.filter['filtered'] or {}).get('rows', 0)} defective traces"
    elif stage is rep.tokens_from and rep.tokens is not None and rep.tokens.height:
        note = f"mean {rep.tokens['completion_tokens'].mean():.0f} completion tokens"
    if not note and isinstance(rows_in, int) and rows_in != stage.rows:
        note = f"{rows_in} in -> {stage.rows} out"
    note = "; ".join(filter(None, (note, cost_note(stage))))
    return note if stage.complete else f"INCOMPLETE; {note}".rstrip("; ")
