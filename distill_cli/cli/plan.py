"""distill plan: what a pipeline's generate steps will cost in tokens, dollars and time, before anything is spent."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from distill_cli.cli.base import app
from distill_cli.cli.cost_options import MeanCompletion, Pilot, Price, PriceTable


@app.command(epilog="Example: distill plan configs/demo.yaml --pilot 4")
def plan(
    pipeline: Annotated[Path, typer.Argument(help="Pipeline YAML file (as for distill run).", show_default=False)],
    run_dir: Annotated[str | None, typer.Option("--run-dir", help="Use this run directory instead of the file's.")]
    = None,
    pilot: Pilot = 0,
    mean_completion_tokens: MeanCompletion = None,
    price: Price = None,
    price_table: PriceTable = None,
) -> None:
    """Count prompts and tokens, estimate cost and wall time of every generate step; write no stage output."""
    from distill_cli.cli import load
    from distill_cli.cli.run import command_specs
    from distill_cli.stages.plan.pipeline import plan_file

    extra = [*(["--pilot", str(pilot)] if pilot else []),
             *(["--mean-completion-tokens", str(mean_completion_tokens)] if mean_completion_tokens else []),
             *(["--price", price] if price else []), *(["--price-table", str(price_table)] if price_table else [])]
    plan_file(pipeline, run_dir, extra, command_specs(), typer.main.get_command(load(("generate",))))
