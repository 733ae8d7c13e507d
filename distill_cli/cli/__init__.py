"""The `distill` command: one typer app, one module per command, errors as one line and an exit code.

The app imports only the module of the command being run (stage cores pull in numpy, pyarrow, vLLM...), so
`distill collect` does not pay for dedupe's or export's imports, and `distill --help` for none (base.LazyGroup);
`app` from here has every command.
"""

from __future__ import annotations

import errno
import importlib
import signal
import sys

import typer

from distill_cli import __version__
from distill_cli.cli.base import SUMMARIES, import_rich_help
from distill_cli.cli.base import app as _app
from distill_cli.errors import DistillError, Stopped

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


# commands that keep what they finished and continue from it when re-run with the same arguments
RESUMABLE = ("collect", "generate", "verify", "grade", "select", "compress", "dedupe", "export", "run", "filter",
             "score")


def _stop(signum: int, _frame) -> None:
    raise Stopped(signum)


def _stopped(argv: list[str], signum: int) -> str:
    """The one line a stopped command prints (no traceback: being stopped is not a bug)."""
    name = next((a for a in argv if not a.startswith("-")), "distill")
    how = signal.Signals(signum).name
    if name in RESUMABLE:
        return f"{name}: stopped by {how}; finished work is saved, re-run the same command to resume"
    return f"{name}: stopped by {how}"


def _interrupt(exc: BaseException | None) -> KeyboardInterrupt | None:
    """The Ctrl-C or SIGTERM behind an exit, if any: typer turns one into `Exit(130)` raised from it (a command that
    reported the stop itself raises its Exit `from None`, and is left alone)."""
    while exc is not None:
        if isinstance(exc, KeyboardInterrupt):
            return exc
        exc = exc.__cause__ or (None if exc.__suppress_context__ else exc.__context__)
    return None


def main() -> None:
    signal.signal(signal.SIGTERM, _stop)
    argv = sys.argv[1:]
    try:
        try:
            if not argv or "--help" in argv or "-h" in argv:
                import_rich_help()
            _app()
        except SystemExit as exc:
            stop = _interrupt(exc)
            if stop is None:
                raise
            raise stop from None
    except KeyboardInterrupt as exc:  # Ctrl-C (SIGINT) or SIGTERM: the stage unwound and kept its finished work
        signum = exc.signum if isinstance(exc, Stopped) else signal.SIGINT
        typer.echo(_stopped(argv, signum), err=True)
        sys.exit(128 + signum)
    except DistillError as exc:
        typer.echo(f"Error: {' '.join(str(exc).split())}", err=True)
        sys.exit(exc.exit_code)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EDQUOT):
            typer.echo(f"Error: cannot write {exc.filename or ''}: {exc.strerror}".replace("  ", " "), err=True)
            sys.exit(1)
        _bug(exc, argv)
    except Exception as exc:  # anything else is a bug in distill: one line, the traceback in a file
        _bug(exc, argv)


def _bug(exc: Exception, argv: list[str]) -> None:
    command = next((a for a in argv if not a.startswith("-")), "distill")
    if _debug or "--debug" in argv[:argv.index(command) if command in argv else len(argv)]:
        raise exc
    from distill_cli.cli.bug import bug_line

    typer.echo(bug_line(exc, argv, command), err=True)
    sys.exit(1)
