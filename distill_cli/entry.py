"""The process around a `distill` command: SIGTERM stops it like Ctrl-C (finished work kept, one line saying so),
a DistillError is one `Error:` line and its exit code, a full disk is one line and exit 1, and anything else is a
bug (bug.py: one line, the traceback in a file).
"""

from __future__ import annotations

import errno
import signal
import sys
from collections.abc import Callable

import typer

from distill_cli.errors import DistillError, Stopped

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


def run(app, debugging: Callable[[], bool]) -> None:
    """Run the typer app on sys.argv as a process: signals stop it cleanly, errors become one line."""
    signal.signal(signal.SIGTERM, _stop)
    argv = sys.argv[1:]
    try:
        try:
            app()
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
        _bug(exc, argv, debugging())
    except Exception as exc:  # anything else is a bug in distill: one line, the traceback in a file
        _bug(exc, argv, debugging())


def _bug(exc: Exception, argv: list[str], debug: bool) -> None:
    command = next((a for a in argv if not a.startswith("-")), "distill")
    if debug or "--debug" in argv[:argv.index(command) if command in argv else len(argv)]:
        raise exc
    from distill_cli.bug import bug_line

    typer.echo(bug_line(exc, argv, command), err=True)
    sys.exit(1)
