"""The dataset card written beside every export: what is in the file and how it was made, from the manifests.

Numbers come from two places only: the exported rows themselves (models, lengths, pass rates of what was
kept) and the manifests and side files of the stage directories upstream of the export input (sampling params,
filters, verdicts over all samples, decontamination). Nothing is typed in by hand, so the card cannot drift
from the data.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field

import polars as pl

from distill_cli import __version__
from distill_cli.report import data as rd
from distill_cli.stages.export.core import ExportConfig

CARD_COLUMNS = ("id", "model", "completion_tokens", "pass_rate", "difficulty", "gen_params", "verdict")
BAR = 30


@dataclass
class CardFacts:
    name: str
    cfg: ExportConfig
    records: int
    stats: dict
    input_spec: str
    rows: pl.DataFrame  # the exported source rows, only the CARD_COLUMNS they have
    stages: list[rd.Stage] = field(default_factory=list)
    load: str = ""  # the Python line that loads the export


def card_rows(used: pl.LazyFrame) -> pl.DataFrame:
    names = used.collect_schema().names()
    return used.select([c for c in CARD_COLUMNS if c in names]).collect()


def gather(name: str, cfg: ExportConfig, records: int, stats: dict, input_spec: str, used: pl.LazyFrame,
           load: str) -> CardFacts:
    return CardFacts(name, cfg, records, stats, input_spec, card_rows(used), rd.lineage(input_spec), load)


def load_line(kind: str, location: str) -> str:
    """How a user loads the export, per target kind."""
    if kind == "dir":
        return f'ds = load_from_disk("{location}")'
    if kind == "hub":
        return f'ds = load_dataset("{location}", split="train")'
    return f'ds = load_dataset("{"json" if kind == "jsonl" else "parquet"}", data_files="{location}", split="train")'


# ---- markdown helpers ----------------------------------------------------------------------------------------


def table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _cell(value) -> str:
    if isinstance(value, float):
        value = f"{value:.3g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def histogram_table(values: list[float], lo: float, hi: float, bins: int, label: str, fmt: str = "{:.2f}") -> str:
    hist = rd.histogram(values, lo, hi, bins)
    top = max((c for *_, c in hist), default=0) or 1
    rows = [[f"{fmt.format(a)}–{fmt.format(b)}", c, "█" * round(BAR * c / top)] for a, b, c in hist]
    return table([label, "count", ""], rows)


def nice_max(value: float) -> float:
    """A round upper bound for a length histogram."""
    if value <= 0:
        return 1.0
    step = 10 ** max(0, len(str(int(value))) - 1)
    return float(((int(value) // step) + 1) * step)


# ---- sections ------------------------------------------------------------------------------------------------


def _header(f: CardFacts) -> list[str]:
    kind = f.cfg.format
    return ["---", f"tags: [distill, reasoning-traces, {kind}]", "task_categories: [text-generation]", "---", "",
            f"# {f.name}", "",
            f"Reasoning traces distilled with [distill](https://pypi.org/project/distill-cli/) {__version__}: "
            f"**{f.records}** {_what(f.cfg)}.", ""]


def _what(cfg: ExportConfig) -> str:
    if cfg.format == "kd":
        return "KD records (`input_ids`, `completion_mask`, the teacher's `topk_ids`/`topk_logprobs` per position)"
    if cfg.format == "dpo":
        return f"DPO preference pairs (TRL, {cfg.dpo_style} `prompt`/`chosen`/`rejected`)"
    return {"messages": "SFT conversations (OpenAI/TRL `messages`)", "sharegpt": "SFT conversations (ShareGPT "
            "`conversations`, from/value)", "alpaca": "SFT examples (Alpaca `instruction`/`input`/`output`)"}[cfg.style]


def _contents(f: CardFacts) -> list[str]:
    cfg = f.cfg
    reasoning = ("`reasoning_content` field of the assistant message" if cfg.reasoning_field
                 else f"inline, between `{cfg.think_open}` and `{cfg.think_close}`")
    rows = [["records", f.records], ["reasoning", reasoning], ["system prompt", cfg.system or "none"],
            ["input", f"`{f.input_spec}`"]]
    policy = {"refuse": "only correct traces (checked)", "drop": "only correct traces (others dropped)",
              "allow": "all traces, including not-correct ones"}
    if cfg.format in ("sft", "kd"):
        admitted = "unverified traces (the input has no verdict column)" if "unverified" in f.stats else None
        rows.append(["verdicts admitted", admitted or policy[cfg.incorrect]])
    for key in ("dropped_not_correct", "kept_not_correct"):
        if f.stats.get(key):
            rows.append([key.replace("_", " "), ", ".join(f"{v}: {n}" for v, n in f.stats[key].items())])
    if "incomplete_pairs" in f.stats:
        rows.append(["incomplete pairs left out", f.stats["incomplete_pairs"]])
    return ["## Contents", "", table(["", ""], rows), ""]


def _teachers(f: CardFacts) -> list[str]:
    out = ["## Teacher models", ""]
    if "model" in f.rows.columns:
        counts = f.rows.group_by("model").len().sort("len", descending=True)
        out.append(table(["model", "records"], [list(r) for r in counts.iter_rows()]))
    else:
        out.append("The input has no `model` column.")
    return [*out, ""]


def _sampling(f: CardFacts) -> list[str]:
    out = ["## Sampling", ""]
    gen = rd.last(f.stages, "generate")
    if gen is not None:
        params = rd.flat_params(gen.params)
        out += [f"`generate` params (from `{gen.path.name}/_manifest.json`):", "",
                table(["param", "value"], [[k, v] for k, v in params.items()]), ""]
    if "gen_params" in f.rows.columns:
        counts = Counter(f.rows["gen_params"].drop_nulls().to_list())
        rows = [[_gen_params(text), n] for text, n in counts.most_common(5)]
        out += ["Per-trace sampling params (`gen_params`):", "", table(["params", "records"], rows), ""]
    if len(out) == 2:
        out += ["No generate stage upstream and no `gen_params` column: sampling params unknown.", ""]
    return out


def _gen_params(text: str) -> str:
    try:
        data = json.loads(text)
    except (TypeError, json.JSONDecodeError):
        return text
    return ", ".join(f"{k}={v}" for k, v in data.items()) if isinstance(data, dict) else text


def _pipeline(f: CardFacts) -> list[str]:
    if not f.stages:
        return ["## Pipeline", "", "The input is not a distill stage directory: no upstream manifests.", ""]
    rows = [[s.stage, f"`{s.path.name}`", s.rows, _short(rd.flat_params(s.params))] for s in f.stages]
    out = ["## Pipeline", "", table(["stage", "directory", "rows", "params"], rows), ""]
    filters = [s for s in f.stages if s.stage in ("select", "grade", "compress")]
    if filters:
        out += ["Filters and transforms applied:", ""]
        out += [f"- `{s.stage}`: {_short(rd.flat_params(s.params), 400) or 'defaults'}" for s in filters]
        out.append("")
    return out


def _short(params: dict, limit: int = 160) -> str:
    text = ", ".join(f"{k}={v}" for k, v in params.items() if k != "limit" or v is not None)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _quality(f: CardFacts) -> list[str]:
    out = ["## Verdicts and pass rates", ""]
    verified = rd.first(f.stages, "verify", "grade", "select", "compress", "dedupe", column="verdict")
    counts = rd.verdict_counts(verified)
    if counts is not None:
        wide = counts.pivot("verdict", index="model", values="n").fill_null(0)
        out += [f"Verdicts over all samples of `{verified.path.name}` ({verified.stage}):", "",
                table(wide.columns, [list(r) for r in wide.iter_rows()]), ""]
    graded = rd.first(f.stages, "grade", column="pass_rate") or verified
    rates = rd.pass_rates(graded)
    if rates is not None and rates.height:
        out += [f"Pass rate per (prompt, model) in `{graded.path.name}`, {rates.height} prompts:", "",
                histogram_table(rates["pass_rate"].to_list(), 0.0, 1.0, 10, "pass rate"), ""]
    elif "pass_rate" in f.rows.columns:
        out += ["Pass rate of the exported rows:", "",
                histogram_table(f.rows["pass_rate"].to_list(), 0.0, 1.0, 10, "pass rate"), ""]
    if len(out) == 2:
        out += ["No verify stage upstream: verdicts unknown.", ""]
    return out


def _lengths(f: CardFacts) -> list[str]:
    out = ["## Lengths", ""]
    if "completion_tokens" in f.rows.columns and f.rows.height:
        tokens = f.rows["completion_tokens"].drop_nulls()
        if tokens.len():
            out += [f"Teacher completion tokens of the exported traces (mean {tokens.mean():.0f}, "
                    f"median {tokens.median():.0f}, max {tokens.max()}):", "",
                    histogram_table(tokens.to_list(), 0, nice_max(tokens.max()), 10, "tokens", "{:.0f}"), ""]
    comp = rd.compression_lengths(rd.last(f.stages, "compress"))
    if comp is not None and comp[0].height:
        df, unit = comp
        out += [f"Compression: mean length {df['before'].mean():.0f} -> {df['after'].mean():.0f} {unit} "
                f"({df['after'].sum() / max(1, df['before'].sum()):.0%} kept).", ""]
    return out if len(out) > 2 else [*out, "No token counts in the input.", ""]


def _decontamination(f: CardFacts) -> list[str]:
    out = ["## Deduplication and decontamination", ""]
    summary = rd.dedupe_summary(rd.last(f.stages, "dedupe"))
    if summary is None:
        return [*out, "**No `dedupe` stage upstream: this data was not checked against benchmarks.**", ""]
    out.append(f"`dedupe` params: {_short(summary['params'], 400) or 'defaults'}.")
    out.append("")
    for key, what in (("duplicates", "duplicate rows removed"), ("contamination", "contaminated rows removed")):
        side = summary[key]
        if side is None:
            out.append(f"- {what}: none recorded")
            continue
        split = "; ".join(f"{k}: {n}" for k, n in side["split"].items())
        out.append(f"- {what}: {side['rows']}" + (f" (by {side['by']}: {split})" if split else ""))
    return [*out, ""]


def _loading(f: CardFacts) -> list[str]:
    return ["## Loading", "", "```python", "from datasets import load_dataset, load_from_disk", f.load, "```", ""]


def render_card(f: CardFacts) -> str:
    parts = [_header(f), _contents(f), _teachers(f), _sampling(f), _quality(f), _lengths(f), _decontamination(f),
             _pipeline(f), _loading(f)]
    return "\n".join(line for part in parts for line in part)
