"""Progress of a stage run on stderr: a live bar on a terminal, a plain line at an interval in a log, nothing with -q.

Under Slurm, nohup or `distill run > log`, stderr is a file: a redraw-in-place bar would write nothing useful there,
so a long stage prints one plain line every `--progress-interval` seconds instead (as pip and datatrove do in
logs), which `tail -f` and `grep` can read.
"""

from __future__ import annotations

import os
import sys
import threading
import time

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

DEFAULT_INTERVAL = 30.0
LOG_WIDTH = 200  # tables in a log file; a plain line is never wrapped (soft_wrap)


def make_console(stderr: bool = False) -> Console:
    """A console whose lines stay one line in a log file: rich would hard-wrap at 80 columns when the stream is not
    a terminal, and `grep resumed log` would then miss a summary split over two lines."""
    stream = sys.stderr if stderr else sys.stdout
    wide = not stream.isatty() and not os.environ.get("COLUMNS")
    return Console(stderr=stderr, soft_wrap=True, width=LOG_WIDTH if wide else None)


console = make_console(stderr=True)


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


def progress_line(label: str, done: int, total: int | None, elapsed: float, note: str = "",
                  resumed: int = 0) -> str:
    """One plain log line: rows done of total, rows/s (and the stage's own note, e.g. tokens/s), ETA. Rows
    `resumed` from a checkpoint count as done but not in the rate, which would otherwise promise too early an end."""
    extra = f", {note}" if note else ""
    if total is None:
        return f"{label}: working, {done:,} rows, elapsed {_clock(elapsed)}{extra}"
    rate = (done - resumed) / elapsed if elapsed > 0 else 0.0
    share = f" ({100 * done / total:.0f}%)" if total else ""
    eta = _clock((total - done) / rate) if rate > 0 else "unknown"
    return (f"{label}: {done:,}/{total:,} rows{share}, {rate:,.1f} rows/s{extra}, "
            f"elapsed {_clock(elapsed)}, ETA {eta}")


class _LogTicker:
    """A daemon thread that prints `progress_line` every `interval` seconds until stopped."""

    def __init__(self, progress: Progress, interval: float):
        self.progress, self.interval = progress, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="distill-progress", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=1)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            p = self.progress
            line = progress_line(p.label, p.done, p.total, time.monotonic() - p.started, p.note, p.resumed)
            try:
                print(line, file=sys.stderr, flush=True)
            except (OSError, ValueError):  # stderr closed (a pipe whose reader left): progress is not worth a crash
                return


class Progress:
    """Rows done out of rows to do; a stage may advance it finely and add a note such as tokens/s."""

    def __init__(self, label: str, total: int | None, quiet: bool = False, interval: float = DEFAULT_INTERVAL):
        self.label, self.total, self.done, self.resumed, self.note = label, total, 0, 0, ""
        self.started = time.monotonic()
        tty = sys.stderr.isatty()
        self.enabled = not quiet and tty
        self._ticker = _LogTicker(self, interval) if not quiet and not tty and interval > 0 else None
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
        self.started = time.monotonic()
        if self._ticker is not None:
            self._ticker.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._ticker is not None:
            self._ticker.stop()
        self._bar.__exit__(*exc)

    def advance(self, rows: int, note: str | None = None, resumed: bool = False) -> None:
        """`resumed`: rows found finished in a checkpoint, done without work in this run."""
        self._advanced_in_shard += rows
        self.done += rows
        self.resumed += rows if resumed else 0
        if note is not None:
            self.note = note
        self._bar.update(self._task, advance=rows, **({"note": note} if note is not None else {}))

    def shard_done(self, rows: int) -> None:
        """Count the rest of a shard's rows that the stage did not report itself."""
        rest = rows - self._advanced_in_shard
        if rest > 0:
            self.done += rest
            self._bar.update(self._task, advance=rest)
        self._advanced_in_shard = 0
