"""Options of cost and planning, shared by `distill generate` and `distill plan`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

COST = "Cost and plan"

Price = Annotated[str | None, typer.Option(
    "--price", help="USD per million tokens: in=3,out=15[,cached=0.3][,batch=0.5]; wins over the price tables.",
    show_default=False, rich_help_panel=COST)]
PriceTable = Annotated[Path | None, typer.Option(
    "--price-table", help="A YAML price table (the bundled prices.yaml's format), looked up before the bundled one.",
    show_default=False, rich_help_panel=COST)]
Pilot = Annotated[int, typer.Option(
    "--pilot", min=0, help="With a plan: send N real requests (sample 0 of the first N prompts) to measure "
    "completion length and speed; they are paid for and not kept.", rich_help_panel=COST)]
MeanCompletion = Annotated[float | None, typer.Option(
    "--mean-completion-tokens", min=1.0, help="With a plan: the completion length to assume instead of a pilot.",
    show_default=False, rich_help_panel=COST)]
MaxCost = Annotated[float | None, typer.Option(
    "--max-cost", min=0.0, help="Stop (exit 3, resumable) once the stage's recorded cost reaches USD; needs a price.",
    show_default=False, rich_help_panel=COST)]
DryRun = Annotated[bool, typer.Option(
    "--dry-run", help="Print the plan (prompts, tokens, cost, wall time) and write nothing.", rich_help_panel=COST)]
OnlyUnsolved = Annotated[str | None, typer.Option(
    "--only-unsolved", help="A verify or grade output: generate only for prompts its teachers did not solve.",
    show_default=False, rich_help_panel=COST)]
Below = Annotated[float | None, typer.Option(
    "--below", help="With --only-unsolved: unsolved = best pass rate below this (default: no correct sample).",
    show_default=False, rich_help_panel=COST)]
