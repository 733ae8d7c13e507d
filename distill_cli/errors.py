"""Project exceptions. The CLI turns them into one `Error: ...` line and an exit code."""


class DistillError(Exception):
    """Base of every error distill reports to the user."""

    exit_code = 1


class BadInput(DistillError):
    """The input or the options are wrong: a file, column or row the user must fix."""

    exit_code = 2


class StageConflict(BadInput):
    """The output directory holds a run with other params or inputs; pass --overwrite."""


class StageFailure(DistillError):
    """The stage could not finish for a reason other than its input."""

    exit_code = 1


class MissingExtra(DistillError):
    """An optional dependency is needed for this command; the message says which extra to install."""

    exit_code = 1


class Stopped(KeyboardInterrupt):
    """SIGTERM (a scheduler's cancel, `kill`) asked the run to stop: unwound like Ctrl-C, so finished work is kept."""

    def __init__(self, signum: int):
        super().__init__(signum)
        self.signum = signum


def one_line(exc: BaseException, limit: int = 300) -> str:
    """An exception's message on one line and cut to `limit` characters, fit for an `Error:` line."""
    return " ".join(str(exc).split())[:limit]


def require(module: str, extra: str):
    """Import an optional heavy dependency, or fail with the pip command that provides it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtra(
            f"{module} is not installed ({exc}); install it with: pip install '.[{extra}]' (in the distill clone)"
        ) from exc
