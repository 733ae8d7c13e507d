"""distill report: a run directory in, report.html with its figures out, and a summary table in the terminal."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from distill_cli.cli import common
from distill_cli.cli.base import app


@app.command(epilog="Example: distill report runs/demo   (writes runs/demo/report/report.html and its PNGs)")
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run directory holding stage directories (any names), or one "
                                            "stage directory (its upstream chain is reported).",
                                            show_default=False)],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Report directory (default: "
                                                "RUN_DIR/report).", show_default=False)] = None,
    quiet: common.Quiet = False,
) -> None:
    """HTML report of a run: verdicts, pass rates, difficulty, lengths, compression, dedupe, rows per stage."""
    from distill_cli.report.run import run

    run(run_dir, output, quiet)
