"""export: turn verified traces into the training files SFT and DPO trainers read (TRL, LLaMA-Factory, Axolotl).

The core builds the output as polars expressions over a LazyFrame, so a JSONL or Parquet export streams from the
input shards to the file without holding the dataset in memory. Which rows may go into an SFT set is a policy
decision made here, once: by default only `correct` traces, because a wrong trace silently teaches the student
to be wrong; `drop` leaves the others out with a count, `allow` keeps them with a warning count.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl

from distill_cli.errors import BadInput
from distill_cli.stages.export.config import DpoStyle, ExportConfig, Format, Incorrect, Style, parse_think_tags  # noqa: F401

# (records, source rows, stats): the source rows (for DPO the chosen side, joined) feed the dataset card
Exported = tuple[pl.LazyFrame, pl.LazyFrame, dict]

STAMP_SUFFIX = ".distill.json"
SFT_META = ("id", "sample", "model", "source", "domain", "difficulty", "pass_rate")
DPO_META = ("id", "source", "domain", "difficulty", "pass_rate")


def stamp_path(target: Path) -> Path:
    """The hidden file beside an export naming which export it holds: its fingerprint (for resume) and what it is
    (format, shape, records, input), which `distill report` shows."""
    return target.with_name(f".{target.name}{STAMP_SUFFIX}")


def exported_path(stamp: Path) -> Path:
    return stamp.with_name(stamp.name[1:].removesuffix(STAMP_SUFFIX))


def required_columns(cfg: ExportConfig) -> dict[str, type[pl.DataType]]:
    if cfg.format == "kd":  # token ids and top-K, checked by the KD core (stages/export/kd.py)
        return {}
    need: dict[str, type[pl.DataType]] = {"prompt": pl.String, "response": pl.String}
    if cfg.format == "dpo":
        need.update({"pair_id": pl.String, "pair_role": pl.String})
    return need


# ---- row text ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Side:
    """Where one completion's text lives: the chosen side uses the plain columns, the rejected side suffixed ones."""

    response: str = "response"
    reasoning: str | None = "reasoning"  # None when the input has no reasoning column


def side_of(schema: list[str], suffix: str = "") -> Side:
    return Side(f"response{suffix}", f"reasoning{suffix}" if "reasoning" in schema else None)


def _reasoning(side: Side) -> pl.Expr:
    if side.reasoning is None:
        return pl.lit(None, pl.String)
    text = pl.col(side.reasoning).str.strip_chars()
    return pl.when(text != "").then(text).otherwise(None)


def assistant_text(cfg: ExportConfig, side: Side) -> pl.Expr:
    """The assistant turn: the reasoning in think tags (unless it goes in its own field), then the response.

    A trace without reasoning (a non-thinking teacher) gives the response alone, not an empty think block.
    """
    response = pl.col(side.response).fill_null("").str.strip_chars()
    if cfg.reasoning_field:
        return response
    reasoning = _reasoning(side)
    wrapped = pl.concat_str([pl.lit(f"{cfg.think_open}\n"), reasoning, pl.lit(f"\n{cfg.think_close}\n\n"), response])
    return pl.when(reasoning.is_not_null()).then(wrapped).otherwise(response)


def _message(role: str, content: pl.Expr, reasoning: pl.Expr | None) -> pl.Expr:
    fields = {"role": pl.lit(role), "content": content}
    if reasoning is not None:
        fields["reasoning_content"] = reasoning
    return pl.struct(**fields)


def _prompt_messages(cfg: ExportConfig) -> list[pl.Expr]:
    """System (when given) and user turns; with --reasoning-field every message has the field (null here)."""
    none = pl.lit(None, pl.String) if cfg.reasoning_field else None
    system = [_message("system", pl.lit(cfg.system), none)] if cfg.system is not None else []
    return [*system, _message("user", pl.col("prompt"), none)]


def _assistant_message(cfg: ExportConfig, side: Side) -> pl.Expr:
    reasoning = _reasoning(side) if cfg.reasoning_field else None
    return _message("assistant", assistant_text(cfg, side), reasoning)


def sft_columns(cfg: ExportConfig, schema: list[str]) -> list[pl.Expr]:
    """The training columns of one SFT record in the chosen style."""
    side = side_of(schema)
    answer = assistant_text(cfg, side)
    if cfg.style == "messages":
        turns = [*_prompt_messages(cfg), _assistant_message(cfg, side)]
        return [pl.concat_list(turns).alias("messages")]
    if cfg.style == "sharegpt":  # LLaMA-Factory's sharegpt: from/value turns, system in its own column
        turns = [pl.struct(**{"from": pl.lit("human"), "value": pl.col("prompt")}),
                 pl.struct(**{"from": pl.lit("gpt"), "value": answer})]
        system = [pl.lit(cfg.system).alias("system")] if cfg.system is not None else []
        return [pl.concat_list(turns).alias("conversations"), *system]
    system = [pl.lit(cfg.system).alias("system")] if cfg.system is not None else []
    return [pl.col("prompt").alias("instruction"), pl.lit("").alias("input"), answer.alias("output"), *system]


# ---- SFT -----------------------------------------------------------------------------------------------------


def verdict_filter(lf: pl.LazyFrame, schema: list[str], cfg: ExportConfig, where: str) -> tuple[pl.LazyFrame, dict]:
    """Apply the not-correct policy; raise for `refuse` naming how many rows and which verdicts are in the way.

    A failed generation (finish_reason `error`: no response at all) is never a trace to train on, whatever the
    policy: it is dropped first and counted, so --allow-incorrect cannot turn it into an empty assistant turn.
    """
    lf, failed = _drop_failed(lf, schema)
    if "verdict" not in schema:
        if cfg.incorrect != "allow":
            raise BadInput(f"{where}: no 'verdict' column (these traces are unverified); run `distill verify` "
                           "first, or pass --allow-incorrect to export them unchecked")
        return lf, {"unverified": None, **failed}
    counts = dict(lf.select(pl.col("verdict").fill_null("none")).group_by("verdict").len().collect().iter_rows())
    bad = {v: n for v, n in sorted(counts.items()) if v != "correct"}
    total, n_bad = sum(counts.values()), sum(bad.values())
    if n_bad and cfg.incorrect == "refuse":
        listing = ", ".join(f"{v} {n}" for v, n in bad.items())
        raise BadInput(f"{where}: {n_bad} of {total} rows are not correct ({listing}); keep only correct traces "
                       "with --drop-incorrect, or pass --allow-incorrect to export them anyway")
    if cfg.incorrect == "drop":
        lf = lf.filter(pl.col("verdict") == "correct")
        return lf, {"dropped_not_correct": bad, **failed}
    return lf, {"kept_not_correct": bad, **failed}


def _drop_failed(lf: pl.LazyFrame, schema: list[str]) -> tuple[pl.LazyFrame, dict]:
    if "finish_reason" not in schema:
        return lf, {}
    failed = pl.col("finish_reason").fill_null("") == "error"
    n = lf.select(failed.sum()).collect().item()
    return (lf.filter(~failed), {"dropped_failed_generations": n}) if n else (lf, {})


def _meta(schema: list[str], names: tuple[str, ...]) -> list[str]:
    return [c for c in names if c in schema]


def sft_frame(lf: pl.LazyFrame, cfg: ExportConfig, where: str = "input") -> Exported:
    schema = lf.collect_schema().names()
    lf, stats = verdict_filter(lf, schema, cfg, where)
    used = lf.head(cfg.limit) if cfg.limit is not None else lf
    return sft_records(used, cfg, schema, filtered=True), used, stats


def sft_input_columns(cfg: ExportConfig, schema: list[str]) -> list[str]:
    """The input columns sft_records reads: a batch reader that reads only these skips the rest of a wide row (a
    trace's `completion` repeats its reasoning: half the bytes of an 8 KB trace)."""
    wanted = ["prompt", "response", "reasoning", *(["verdict"] if cfg.incorrect == "drop" else [])]
    return [c for c in schema if c in wanted or cfg.meta and c in SFT_META]


def sft_records(lf: pl.LazyFrame, cfg: ExportConfig, schema: list[str], filtered: bool = False) -> pl.LazyFrame:
    """The SFT records of rows, row by row (so a batch of rows at a time gives the same records): --drop-incorrect
    applied unless `filtered`, the training columns, then the meta columns."""
    if not filtered and cfg.incorrect == "drop" and "verdict" in schema:
        lf = lf.filter(pl.col("verdict") == "correct")
    meta = [pl.col(c) for c in _meta(schema, SFT_META)] if cfg.meta else []
    return lf.select(*sft_columns(cfg, schema), *meta)


# ---- DPO -----------------------------------------------------------------------------------------------------


def dpo_frame(lf: pl.LazyFrame, cfg: ExportConfig, where: str = "input") -> Exported:
    """One record per pair_id from the rows `select --pairs` tagged chosen and rejected.

    Pairs missing a side (a --limit upstream cut them) are dropped and counted; a pair with two chosen or two
    rejected rows is a broken input and stops the export.
    """
    schema = lf.collect_schema().names()
    roles = lf.group_by("pair_id").agg(chosen=(pl.col("pair_role") == "chosen").sum(),
                                       rejected=(pl.col("pair_role") == "rejected").sum()).collect()
    doubled = roles.filter((pl.col("chosen") > 1) | (pl.col("rejected") > 1))
    if doubled.height:
        raise BadInput(f"{where}: {doubled.height} pair_id values have more than one chosen or rejected row "
                       f"(e.g. {doubled['pair_id'][0]!r}); re-run `distill select --pairs`")
    whole = roles.filter((pl.col("chosen") == 1) & (pl.col("rejected") == 1)).height
    stats = {"pairs": whole, "incomplete_pairs": roles.height - whole}

    side_cols = ["pair_id", "response", *(["reasoning"] if "reasoning" in schema else [])]
    side_cols += [c for c in ("model", "verdict") if c in schema]
    chosen = lf.filter(pl.col("pair_role") == "chosen")
    rejected = lf.filter(pl.col("pair_role") == "rejected").select(side_cols)
    joined = chosen.join(rejected, on="pair_id", how="inner", suffix="_rejected", maintain_order="left")
    used = joined.head(cfg.limit) if cfg.limit is not None else joined
    return used.select(*_dpo_columns(cfg, schema), *_dpo_meta(cfg, schema)), used, stats


def _completion(cfg: ExportConfig, side: Side) -> pl.Expr:
    if cfg.dpo_style == "standard":
        return assistant_text(cfg, side)
    return pl.concat_list([_assistant_message(cfg, side)])


def _dpo_columns(cfg: ExportConfig, schema: list[str]) -> list[pl.Expr]:
    prompt = pl.col("prompt") if cfg.dpo_style == "standard" else pl.concat_list(_prompt_messages(cfg))
    return [prompt.alias("prompt"), _completion(cfg, side_of(schema)).alias("chosen"),
            _completion(cfg, side_of(schema, "_rejected")).alias("rejected")]


def _dpo_meta(cfg: ExportConfig, schema: list[str]) -> list[pl.Expr]:
    if not cfg.meta:
        return []
    cols = [pl.col(c) for c in _meta(schema, DPO_META)]
    if "model" in schema:
        cols += [pl.col("model").alias("chosen_model"), pl.col("model_rejected").alias("rejected_model")]
    return cols


def export_frame(lf: pl.LazyFrame, cfg: ExportConfig, where: str = "input") -> Exported:
    """(records to write, the input rows they came from, stats); `where` names the input in error messages."""
    cfg.check()
    if cfg.format == "kd":
        return kd_export(lf, cfg, where)
    return dpo_frame(lf, cfg, where) if cfg.format == "dpo" else sft_frame(lf, cfg, where)


def kd_export(lf: pl.LazyFrame, cfg: ExportConfig, where: str = "input") -> Exported:
    """Token-level KD records (stages/export/kd.py) of the rows the verdict policy admits, as SFT admits them."""
    from distill_cli.stages.export.kd import kd_frame

    lf, stats = verdict_filter(lf, lf.collect_schema().names(), cfg, where)
    records, used, kd_stats = kd_frame(lf, cfg.meta, cfg.limit, where)
    return records, used, {**stats, **kd_stats}
