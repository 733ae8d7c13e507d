"""The `distill` command: one typer app, one module per command, errors as one line and an exit code.

The app imports only the module of the command being run (stage cores pull in numpy, pyarrow, vLLM...), so
`distill collect` does not pay for dedupe's or export's imports, and `distill --help` for none (base.LazyGroup);
`app` from here has every command.
"""

from __future__ import annotations

import importlib

import typer

from distill_cli import __version__
from distill_cli.cli.base import SUMMARIES, import_rich_help
from distill_cli.cli.base import app as _app

COMMANDS = tuple(SUMMARIES)


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


_debug = False


@_app.callback()
def _root(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="Show the version."),
    debug: bool = typer.Option(False, "--debug", help="Print the traceback of an unexpected error instead of "
                               "writing it to a file beside the output (`distill --debug verify ...`)."),
) -> None:
    """Build reasoning-trace distillation datasets, one resumable stage at a time."""
    global _debug
    _debug = debug


def debugging() -> bool:
    """Whether this process runs under `distill --debug`: tracebacks are printed, not written to a file."""
    return _debug


def main() -> None:
    """The `distill` entry point; distill_cli/entry.py wraps the command in signals, exit codes and error lines."""
    import sys

    from distill_cli.entry import run

    if not sys.argv[1:] or "--help" in sys.argv or "-h" in sys.argv:
        import_rich_help()
    run(_app, debugging)
