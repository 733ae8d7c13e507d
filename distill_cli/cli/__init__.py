"""The `distill` command: one typer app, one module per command, errors as one line and an exit code."""

from __future__ import annotations

import errno
import sys

import typer

from distill_cli import __version__

# each module registers its command on `app`
from distill_cli.cli import (  # noqa: E402,F401
    collect,
    compress,
    dedupe,
    export,
    generate,
    grade,
    inspect,
    model,
    report,
    run,
    select,
    verify,
)
from distill_cli.cli.app import app
from distill_cli.errors import DistillError


def _version(value: bool) -> None:
    if value:
        typer.echo(f"distill {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """Build reasoning-trace distillation datasets, one resumable stage at a time."""


def main() -> None:
    try:
        app()
    except DistillError as exc:
        typer.echo(f"Error: {' '.join(str(exc).split())}", err=True)
        sys.exit(exc.exit_code)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EDQUOT):
            typer.echo(f"Error: cannot write {exc.filename or ''}: {exc.strerror}".replace("  ", " "), err=True)
            sys.exit(1)
        raise
