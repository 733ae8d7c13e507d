"""The `distill` command: one typer app, one module per command, errors as one line and an exit code.

The entry point imports only the module of the command being run (stage cores pull in numpy, pyarrow, vLLM...),
so `distill collect` does not pay for dedupe's or export's imports; `app` from here has every command.
"""

from __future__ import annotations

import errno
import importlib
import sys

import typer

from distill_cli import __version__
from distill_cli.cli.base import app as _app
from distill_cli.errors import DistillError

COMMANDS = ("collect", "generate", "verify", "grade", "select", "compress", "dedupe", "export", "run", "inspect",
            "report", "model")


def load(names: tuple[str, ...] = COMMANDS) -> typer.Typer:
    """Register these commands on the app (each module adds its own) and return it."""
    for name in names:
        importlib.import_module(f"distill_cli.cli.{name}")
    return _app


def __getattr__(name: str):
    if name == "app":  # `from distill_cli.cli import app`: the whole command set (tests, `distill run`)
        return load()
    raise AttributeError(name)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"distill {__version__}")
        raise typer.Exit()


@_app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
) -> None:
    """Build reasoning-trace distillation datasets, one resumable stage at a time."""


def _invoked(argv: list[str]) -> tuple[str, ...]:
    first = next((a for a in argv if not a.startswith("-")), None)
    return (first,) if first in COMMANDS else COMMANDS


def main() -> None:
    try:
        load(_invoked(sys.argv[1:]))()
    except DistillError as exc:
        typer.echo(f"Error: {' '.join(str(exc).split())}", err=True)
        sys.exit(exc.exit_code)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EDQUOT):
            typer.echo(f"Error: cannot write {exc.filename or ''}: {exc.strerror}".replace("  ", " "), err=True)
            sys.exit(1)
        raise
