"""distill model (not yet available)."""

import typer

from distill_cli.cli.app import app
from distill_cli.cli.common import not_yet

model_app = typer.Typer(help="Build and locate the bundled demo model.", no_args_is_help=True)
app.add_typer(model_app, name="model")


@model_app.command()
def tiny() -> None:
    """Not yet available."""
    not_yet("model tiny")
