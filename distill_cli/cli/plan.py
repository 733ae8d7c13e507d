"""distill plan: what a pipeline's generate steps will cost in tokens, dollars and time, before anything is spent."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from distill_cli.cli.base import app
from distill_cli.cli.cost_options import MeanCompletion, Pilot, Price, PriceTable
from distill_cli.errors import BadInput


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
    from distill_cli.pipeline.core import parse_pipeline
    from distill_cli.progress import make_console
    from distill_cli.stages.plan.pipeline import plan_pipeline
    from distill_cli.stages.plan.run import print_plan

    try:
        text = pipeline.read_text()
    except OSError as exc:
        raise BadInput(f"{pipeline}: cannot read: {exc.strerror or exc}") from None
    pipe = parse_pipeline(text, str(pipeline), command_specs(), run_dir)
    extra = [*(["--pilot", str(pilot)] if pilot else []),
             *(["--mean-completion-tokens", str(mean_completion_tokens)] if mean_completion_tokens else []),
             *(["--price", price] if price else []), *(["--price-table", str(price_table)] if price_table else [])]
    estimates, notes = plan_pipeline(pipe, extra, typer.main.get_command(load(("generate",))))
    console = make_console()
    if not estimates and not notes:
        raise BadInput(f"{pipeline}: no generate stage to plan")
    if estimates:
        print_plan(estimates, console)
    for note in notes:
        console.print(f"not planned: {note}", highlight=False, soft_wrap=True)
    console.print(f"plan: nothing was written under {pipe.run_dir}")
