"""One progress bar per stage run, on stderr, silent with -q or when stderr is not a terminal."""

from __future__ import annotations

import sys

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.progress import Progress as RichProgress

console = Console(stderr=True)


class Progress:
    """Rows done out of rows to do; a stage may advance it finely and add a note such as tokens/s."""

    def __init__(self, label: str, total: int | None, quiet: bool = False):
        self.enabled = not quiet and sys.stderr.isatty()
        self._advanced_in_shard = 0
        self._bar = RichProgress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=console,
            disable=not self.enabled,
        )
        self._task = self._bar.add_task(label, total=total, note="")

    def __enter__(self) -> Progress:
        self._bar.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._bar.__exit__(*exc)

    def advance(self, rows: int, note: str | None = None) -> None:
        self._advanced_in_shard += rows
        self._bar.update(self._task, advance=rows, **({"note": note} if note is not None else {}))

    def shard_done(self, rows: int) -> None:
        """Count the rest of a shard's rows that the stage did not report itself."""
        rest = rows - self._advanced_in_shard
        if rest > 0:
            self._bar.update(self._task, advance=rest)
        self._advanced_in_shard = 0
