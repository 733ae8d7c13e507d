"""generate's options about money: the price, the budget, the plan and escalation, checked and prepared.

Kept apart from the command so `distill generate` stays one straight line: options -> config -> run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from distill_cli.engines.pricing import Priced, resolve, stage_cost
from distill_cli.errors import BadInput
from distill_cli.stages.generate.budget import Budget


@dataclass(frozen=True)
class Spend:
    priced: Priced
    budget: Budget | None = None
    only: frozenset[str] | None = None  # --only-unsolved: the prompt ids to generate for
    only_params: dict | None = None

    def stage_cost(self, tokens: dict) -> dict:
        return stage_cost(self.priced, tokens)


def prepare(model: str, backend: str, price: str | None, price_table: Path | None, max_cost: float | None,
            dry_run: bool, pilot: int, mean_completion: float | None, only_unsolved: str | None,
            below: float | None, parallel: bool) -> Spend:
    """Everything checked before any work: a bad price, a budget without a price, options that need another."""
    if not dry_run and (pilot or mean_completion is not None):
        raise BadInput(f"{'--pilot' if pilot else '--mean-completion-tokens'}: only with --dry-run (or distill plan)")
    if dry_run and pilot and backend.endswith("-batch"):
        raise BadInput("--pilot: not with a batch backend (a batch may take 24 h); give --mean-completion-tokens")
    if below is not None and only_unsolved is None:
        raise BadInput("--below: only with --only-unsolved")
    if parallel and only_unsolved is not None and not dry_run:
        raise BadInput("--only-unsolved: only with --executor local and --data-parallel-size 1 (for now)")
    priced = resolve(model, backend, price, price_table)
    budget = None
    if max_cost is not None and not dry_run:
        if parallel:
            raise BadInput("--max-cost: only with --executor local and --data-parallel-size 1 (one process counts)")
        budget = Budget(priced, max_cost)
    only, only_params = (None, None) if only_unsolved is None else unsolved_prompts(only_unsolved, below)
    return Spend(priced, budget, only, only_params)


def unsolved_prompts(earlier: str, below: float | None) -> tuple[frozenset[str], dict]:
    from distill_cli.stagedir.inputs import open_input
    from distill_cli.stages.generate.escalate import best_pass_rates, check_below, ids_digest, unsolved

    check_below(below)
    inp = open_input(earlier)
    ids = unsolved(best_pass_rates(inp.scan(), list(inp.schema), f"--only-unsolved {earlier}"), below)
    return frozenset(ids), {"below": below, "prompts": len(ids), "ids": ids_digest(set(ids))}
