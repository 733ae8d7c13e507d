"""An exception nobody expected is a bug in distill: one `Error:` line for the user, the traceback in a file.

A user should never have to read a traceback to learn what went wrong with their data: input problems are
BadInput and say which file and column. Anything else that escapes a command is ours to fix, so the line says so
and where the traceback went (beside the output, where the user is already looking), and `distill --debug ...`
prints it instead.
"""

from __future__ import annotations

import os
import tempfile
import time
import traceback
from pathlib import Path

from distill_cli import __version__
from distill_cli.errors import one_line

OUTPUT_FLAGS = ("-o", "--output")


def output_of(argv: list[str]) -> Path | None:
    """The -o/--output value on the command line, if any (`-o X`, `--output X` or `--output=X`)."""
    for i, arg in enumerate(argv):
        if arg in OUTPUT_FLAGS and i + 1 < len(argv):
            return Path(argv[i + 1])
        if arg.startswith("--output="):
            return Path(arg.split("=", 1)[1])
    return None


def log_dirs(argv: list[str]) -> list[Path]:
    """Where the log may go, best first: beside the output, the working directory, the temp directory."""
    out = output_of(argv)
    beside = [out.expanduser().absolute().parent] if out is not None else []
    return [*beside, Path.cwd(), Path(tempfile.gettempdir())]


def write_log(exc: BaseException, argv: list[str], command: str) -> Path | None:
    """The traceback and the command line, in the first directory that takes it; None when none does."""
    text = (f"distill {__version__}, {time.strftime('%Y-%m-%dT%H:%M:%S%z')}\n"
            f"command: distill {' '.join(argv)}\n\n"
            + "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))
    name = f".distill-error-{command}-{os.getpid()}.log"
    for folder in log_dirs(argv):
        path = folder / name
        try:
            path.write_text(text, encoding="utf-8")
            return path
        except OSError:
            continue
    return None


def bug_line(exc: BaseException, argv: list[str], command: str) -> str:
    """The one line the user sees for an unexpected exception."""
    where = write_log(exc, argv, command)
    saved = f"traceback in {where}" if where is not None else "no traceback file could be written"
    return (f"Error: {command}: unexpected {type(exc).__name__}: {one_line(exc, 200)} (a bug in distill; "
            f"{saved}; run `distill --debug {command} ...` to print it)")
