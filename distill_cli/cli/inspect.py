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
    from rich.table import Table

    from distill_cli.progress import make_console
    from distill_cli.stagedir.inputs import open_input
    from distill_cli.stages.inspect import summarize

    summary = summarize(open_input(path), rows)
    if as_json:
        typer.echo(json.dumps(summary, indent=2, default=str))
        return
    out = make_console()
    m = summary["manifest"] or {}
    out.print(f"[bold]{path}[/bold]  stage={m.get('stage', '-')}  rows={summary['rows']}  "
              f"shards={summary['shards']}  complete={m.get('complete', '-')}")
    cols = Table("column", "type", "nulls", title="columns")
    for c in summary["columns"]:
        cols.add_row(c["name"], c["type"], str(c["nulls"]))
    out.print(cols)
    if m.get("params"):
        out.print("[bold]params[/bold]", json.dumps(m["params"], default=str))
    if m.get("stats"):
        out.print("[bold]stats[/bold]", json.dumps(m["stats"], default=str))
    sample = Table(*summary["sample_columns"], title="sample rows", show_lines=True)
    for row in summary["sample"]:
        sample.add_row(*row)
    out.print(sample)
