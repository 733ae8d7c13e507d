"""distill inspect: what a stage directory holds."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from distill_cli.cli.base import app


@app.command(epilog="Example: distill inspect runs/demo/verified --rows 3")
def inspect(
    path: Annotated[str, typer.Argument(help="A stage directory, Parquet file or glob.", show_default=False)],
    rows: Annotated[int, typer.Option("--rows", "-n", min=0, help="Sample rows to show.")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Rows, shards, columns with types, manifest params, stats and a few sample rows of any stage output."""
    from distill_cli.stagedir.inputs import open_input
    from distill_cli.stages.inspect import show, summarize

    summary = summarize(open_input(path), rows)
    if as_json:
        typer.echo(json.dumps(summary, indent=2, default=str))
    else:
        show(summary, path)
