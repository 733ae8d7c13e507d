"""Escalation: generate only for the prompts an earlier teacher did not solve (`--only-unsolved EARLIER`).

The multi-teacher recipe (AM-DeepSeek-R1-Distilled; "Not All Correct Answers Are Equal") sends to a stronger,
dearer teacher only what a cheaper one failed. A prompt's pass rate is the best of the earlier models' pass rates
(grade's `pass_rate` per (id, model), or the mean verify score per (id, model) by grade's rule: unverifiable
samples do not count), so "solved" means some earlier teacher solved it. Unsolved: best pass rate below
`--below`, or, without it, no correct sample at all.
"""

from __future__ import annotations

import hashlib

import polars as pl

from distill_cli.errors import BadInput

IGNORED = ("unverifiable",)  # as grade: a sample that cannot be checked is neither a pass nor a fail


def best_pass_rates(earlier: pl.LazyFrame, columns: list[str], where: str) -> pl.DataFrame:
    """id -> best pass rate over the earlier models (null when no sample could be checked)."""
    if "id" not in columns:
        raise BadInput(f"{where}: no 'id' column (give a verify or grade output)")
    by = ["id", "model"] if "model" in columns else ["id"]
    if "pass_rate" in columns:
        per_model = earlier.group_by(by).agg(pl.col("pass_rate").cast(pl.Float64).max())
    elif "verdict" in columns and "score" in columns:
        gradable = ~pl.col("verdict").is_in(list(IGNORED)).fill_null(False)
        score = pl.when(gradable).then(pl.col("score").cast(pl.Float64).fill_null(0.0))
        per_model = earlier.group_by(by).agg(score.mean().alias("pass_rate"))
    else:
        raise BadInput(f"{where}: neither a 'pass_rate' column nor 'verdict' and 'score' columns "
                       "(give the output of `distill verify` or `distill grade`)")
    return per_model.group_by("id").agg(pl.col("pass_rate").max()).collect()


def unsolved(rates: pl.DataFrame, below: float | None) -> set[str]:
    """Ids whose best pass rate is under `below` (default: zero, not one correct sample); a prompt no earlier
    sample could check (all unverifiable) is unsolved too: no teacher is known to have solved it."""
    rate = pl.col("pass_rate")
    cut = (rate <= 0.0) if below is None else (rate < below)
    return set(rates.filter(cut | rate.is_null())["id"].to_list())


def ids_digest(ids: set[str]) -> str:
    """Goes into the stage params: a changed earlier output that picks other prompts is another run."""
    return hashlib.blake2b("\n".join(sorted(ids)).encode(), digest_size=12).hexdigest()


def check_below(below: float | None) -> None:
    if below is not None and not 0.0 < below <= 1.0:
        raise BadInput(f"--below {below:g}: expected a pass rate in (0, 1]")
