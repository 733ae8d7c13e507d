"""select's prompt-level choices over the narrow rows: a difficulty mix or the top N prompts, then K traces per
prompt or one DPO pair per prompt and model.

Randomness is a seeded hash of the prompt id (or of the trace's id, model and sample), not a random generator
walking the rows, so a choice depends on the seed and the rows themselves, not on their order or on --shard.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import polars as pl

from distill_cli.errors import BadInput

ROW = "__row"
RAND = "__rand"
EPS = 1e-9


@dataclass(frozen=True)
class SampleConfig:
    by: str
    distribution: tuple[tuple[str, float], ...] | None
    total: int | None
    seed: int
    prefer: str
    rate: str  # pass_rate, or ref_pass_rate when grade had a reference model
    scored: str = "student_perplexity"  # what --by perplexity|divergence reads (select.score_column)


def targets_for(dist: tuple[tuple[str, float], ...], total: int) -> dict[str, int]:
    """Counts per band summing to `total` exactly (largest remainder; ties go to the band listed first)."""
    raw = [(name, frac * total) for name, frac in dist]
    counts = {name: math.floor(value + EPS) for name, value in raw}
    rest = total - sum(counts.values())
    by_remainder = sorted(range(len(raw)), key=lambda i: -(raw[i][1] - counts[raw[i][0]]))
    for i in by_remainder[:rest]:
        counts[raw[i][0]] += 1
    return counts


def exact_total(dist: tuple[tuple[str, float], ...], supply: dict[str, int]) -> int:
    """The largest N whose mix the supply can fill exactly (used when --total is not given)."""
    wanted = [(name, frac) for name, frac in dist if frac > 0]
    n = min(math.floor(supply.get(name, 0) / frac + EPS) for name, frac in wanted)
    while n > 0 and any(c > supply.get(b, 0) for b, c in targets_for(dist, n).items()):
        n -= 1
    return n


KEYS_BY = {"difficulty": ("_rate", False), "pass-rate": ("_rate", False), "cv": ("_cv", True),
           "length": ("_len", True), "random": (RAND, False), "perplexity": ("_ppl", True),
           "divergence": ("_div", True)}


def prompt_table(rows: pl.DataFrame, cfg: SampleConfig) -> pl.DataFrame:
    """One row per prompt with only what the mode reads (the band, or the key --by ranks on) and a seeded hash."""
    if cfg.distribution is not None:
        band = pl.col("difficulty")
        aggs = [band.min().alias("difficulty"), (band.max() != band.min()).alias("_mixed")]
    else:
        source = {"_rate": cfg.rate, "_cv": "score_cv", "_len": "completion_tokens", "_ppl": cfg.scored,
                  "_div": cfg.scored}.get(KEYS_BY[cfg.by][0])
        aggs = [pl.col(source).mean().alias(KEYS_BY[cfg.by][0])] if source else []
    # the streaming engine's group-by is several times cheaper than the eager one on string keys
    grouped = rows.lazy().group_by("id").agg(aggs) if aggs else rows.lazy().select("id").unique()
    table = grouped.collect(engine="streaming")
    return table.with_columns(pl.col("id").hash(cfg.seed).alias(RAND))


def rank_prompts(table: pl.DataFrame, by: str) -> pl.DataFrame:
    """Hardest (lowest pass rate), most variable (highest CV), longest, most perplexing, most divergent (the student
    furthest from the teacher), or seeded-random first."""
    key, descending = KEYS_BY[by]
    return table.sort([key, RAND, "id"], descending=[descending, False, False], nulls_last=True)


def sample_mix(table: pl.DataFrame, cfg: SampleConfig) -> tuple[pl.DataFrame, dict, list[str]]:
    """Prompts drawn per band to the requested mix; a band short of supply is reported, never back-filled."""
    assert cfg.distribution is not None
    mixed = table.filter(pl.col("_mixed"))
    if mixed.height:
        raise BadInput(f"--distribution: prompt {mixed['id'][0]} has a different difficulty per model; "
                       "pass --model M, or grade with --reference-model so every row shares one difficulty")
    supply = dict(table.group_by("difficulty").len().rows())
    total = cfg.total if cfg.total is not None else exact_total(cfg.distribution, supply)
    targets = targets_for(cfg.distribution, total)
    picked = [table.filter(pl.col("difficulty") == band).sort([RAND, "id"]).head(n) for band, n in targets.items()]
    chosen = pl.concat(picked) if picked else table.clear()
    got = dict(chosen.group_by("difficulty").len().rows())
    shortfall = {band: n - got.get(band, 0) for band, n in targets.items() if n > got.get(band, 0)}
    warnings = [f"--distribution: {band} short by {n} prompt(s): asked {targets[band]}, only "
                f"{supply.get(band, 0)} available; the mix is off by that" for band, n in shortfall.items()]
    if total == 0:
        warnings.append(f"--distribution: no prompts selected; supply per band is {supply or 'empty'}")
    stats = {"requested": targets, "supply": {k: supply.get(k, 0) for k in targets}, "shortfall": shortfall}
    return chosen, stats, warnings


def pick_prompts(rows: pl.DataFrame, cfg: SampleConfig) -> tuple[pl.DataFrame, dict, list[str]]:
    """Apply --distribution or --total at the prompt level; rows of unchosen prompts are counted as dropped."""
    if cfg.distribution is None and cfg.total is None:
        return rows, {"dropped": {}}, []
    table = prompt_table(rows, cfg)
    if cfg.distribution is not None:
        chosen, stats, warnings = sample_mix(table, cfg)
        reason = "distribution"
    else:
        chosen, stats, warnings = rank_prompts(table, cfg.by).head(cfg.total), {}, []
        reason = "total"
        if chosen.height < cfg.total:
            stats["shortfall"] = {"total": cfg.total - chosen.height}
            warnings.append(f"--total {cfg.total}: only {chosen.height} prompts pass the filters")
    kept = rows.filter(pl.col("id").is_in(chosen.get_column("id").implode()))
    return kept, {"dropped": {reason: rows.height - kept.height}, **stats}, warnings


def _prefer_order(rows: pl.DataFrame, cfg: SampleConfig) -> tuple[list[pl.Expr], list[bool]]:
    """The sort keys that put the preferred trace of a prompt first (row number breaks every tie)."""
    if cfg.prefer in ("shortest", "longest"):
        return [pl.col("completion_tokens"), pl.col(ROW)], [cfg.prefer == "longest", False]
    if cfg.prefer == "random":
        ident = [c for c in ("id", "model", "sample") if c in rows.columns]
        return [pl.struct(ident if "sample" in ident else [*ident, ROW]).hash(cfg.seed), pl.col(ROW)], [False, False]
    first = [pl.col("sample")] if "sample" in rows.columns else []
    return [*first, pl.col(ROW)], [False] * (len(first) + 1)


def _best(rows: pl.DataFrame, group: list[str], k: int, cfg: SampleConfig) -> pl.DataFrame:
    """The first k rows of each group in preference order (an order-keeping group-by head: no string sort)."""
    keys, descending = _prefer_order(rows, cfg)
    ranked = rows.sort(keys, descending=descending, nulls_last=True)
    if k == 1:  # the same rows, by one hash pass instead of a group-by (measured: half the CPU)
        return ranked.filter(pl.struct(group).is_first_distinct() if len(group) > 1 else
                             pl.col(group[0]).is_first_distinct())
    return ranked.group_by(group, maintain_order=True).head(k)


def pick_per_prompt(rows: pl.DataFrame, cfg: SampleConfig, k: int | None) -> tuple[pl.DataFrame, int]:
    """The row numbers to output in input order: all rows, or the K preferred traces of each prompt."""
    if k is None:
        return rows.select(ROW), 0
    kept = _best(rows, ["id"], k, cfg).select(ROW).sort(ROW)
    return kept, rows.height - kept.height


def pick_pairs(rows: pl.DataFrame, cfg: SampleConfig) -> tuple[pl.DataFrame, int]:
    """Per (id, model): the preferred correct trace as `chosen` and the preferred incorrect one as `rejected`."""
    group = ["id", "model"]
    chosen = _best(rows.filter(pl.col("verdict") == "correct"), group, 1, cfg)
    rejected = _best(rows.filter(pl.col("verdict") == "incorrect"), group, 1, cfg)
    both = chosen.select(*group, pl.col(ROW).alias("_c")).join(
        rejected.select(*group, pl.col(ROW).alias("_r")), on=group, how="inner", nulls_equal=True)
    pair_id = pl.concat_str(pl.col("id"), pl.col("model").fill_null(""), separator=":")
    long = both.select(pair_id.alias("pair_id"), "_c", "_r").unpivot(
        index="pair_id", on=["_c", "_r"], variable_name="pair_role", value_name=ROW)
    long = long.with_columns(pl.col("pair_role").replace_strict({"_c": "chosen", "_r": "rejected"}))
    keep = long.sort("pair_id", "pair_role").select(ROW, "pair_id", "pair_role")
    return keep, rows.height - keep.height
