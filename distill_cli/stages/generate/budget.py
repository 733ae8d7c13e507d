"""`--max-cost USD`: stop a generate run once the stage's recorded cost reaches the budget.

The recorded cost counts every saved row of the stage: whole shards of earlier runs, checkpointed rows, and rows
as they arrive. At the budget no new request is sent; the ones in flight finish and are saved (they are paid for),
then `BudgetReached` stops the stage the way a Ctrl-C does: finished rows saved, the run resumable with a higher
--max-cost, exit code 3. The offline engine, which bills nothing per request, stops at once instead.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

import polars as pl

from distill_cli.engines.pricing import Priced
from distill_cli.engines.types import Request
from distill_cli.errors import DistillError

EXIT_BUDGET = 3


class BudgetReached(DistillError):
    """The stage's recorded cost reached --max-cost; finished rows are saved and the run can resume."""

    exit_code = EXIT_BUDGET


class Budget:
    def __init__(self, priced: Priced, limit: float):
        self.priced, self.limit = priced, limit
        priced.require("--max-cost")
        self.spent = 0.0
        self._cond = threading.Condition()
        self._handed = self._counted = 0

    def row_cost(self, row: dict) -> float:
        return self.priced.cost(row.get("prompt_tokens") or 0, row.get("completion_tokens") or 0,
                                row.get("cached_tokens") or 0) or 0.0

    def count_shards(self, out_dir: Path) -> None:
        """Whole shards an earlier run wrote (call after the output directory is opened, so --overwrite is done)."""
        files = sorted(Path(out_dir).glob("part-*.parquet"))
        if not files:
            return
        cols = ["prompt_tokens", "completion_tokens"]
        frame = pl.concat([pl.read_parquet(f, columns=[c for c in (*cols, "cached_tokens")
                                                       if c in pl.read_parquet_schema(f)]) for f in files],
                          how="diagonal_relaxed")
        for row in frame.iter_rows(named=True):
            self.spent += self.row_cost(row)

    def add_saved(self, rows: pl.DataFrame) -> None:
        """A shard's checkpointed rows, counted before it sends anything."""
        for row in rows.iter_rows(named=True):
            self.spent += self.row_cost(row)

    @property
    def reached(self) -> bool:
        return self.spent >= self.limit

    def check(self) -> None:
        if self.reached:
            raise BudgetReached(self.message())

    def add(self, row: dict, stop: bool = False) -> None:
        """Count a finished row; `stop` raises at the budget (a local engine, whose unfinished work costs nothing)."""
        with self._cond:
            self.spent += self.row_cost(row)
            self._counted += 1
            self._cond.notify_all()
        if stop:
            self.check()

    def gate(self, requests: Iterable[Request], window: int, patience: float = 10.0) -> Iterator[Request]:
        """Hand out requests until the budget is reached; a server backend then stops sending and finishes what is
        in flight (saved like any result), so nothing paid for is thrown away.

        A request is handed out only while fewer than `window` (the backend's concurrency + 1) are out and not yet
        counted, so results that arrived but wait for this thread's consumer cannot let the sender run past the
        budget: the overshoot is at most `window` requests. The wait gives up after `patience` seconds without
        progress (a consumer that stopped), so the sender is never stuck for good.
        """
        with self._cond:
            self._handed = self._counted = 0
        for req in requests:
            with self._cond:
                self._cond.wait_for(lambda: self.reached or self._handed - self._counted < window, patience)
                if self.reached:
                    return
                self._handed += 1
            yield req

    def message(self) -> str:
        return (f"--max-cost {self.limit:g}: the recorded cost reached ${self.spent:.4f}; finished rows are saved; "
                f"re-run with a higher --max-cost to continue")
