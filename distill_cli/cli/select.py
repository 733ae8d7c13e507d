"""distill select (not yet available)."""

from typing import Annotated

import typer

from distill_cli.cli.app import app
from distill_cli.cli.common import not_yet


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def select(args: Annotated[list[str] | None, typer.Argument(help="Not yet available.")] = None) -> None:
    """Not yet available."""
    not_yet("select")
