"""Worker processes with hard per-item deadlines: a stuck item costs its timeout, never the run.

Each worker gets a small batch and sends one result per item as soon as it is done, so the parent always knows
which item a worker is on and since when. A worker past its item's deadline is SIGKILLed and replaced; that item
gets `timeout`, the rest of its batch goes back to the queue. A worker that dies on its own gives `error` for the
item it was on. Parsing never runs in the parent, even with one worker.
"""

from __future__ import annotations

import multiprocessing as mp
import signal
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait

from distill_cli.errors import StageFailure
from distill_cli.stages.verify.config import Verdict, VerifyConfig, error_verdict, timeout_verdict

START_TIMEOUT = 120.0  # a fresh worker imports sympy and math-verify; not charged to any item


@dataclass(frozen=True)
class Item:
    index: int
    response: str | None
    answer: str | None
    domain: str
    tests: str | None = None
    finish_reason: str | None = None
    problem: object = None  # code: the row's language, checker and limits (problem.Problem)
    deadline: float | None = None  # code: the row's own backstop (per-test limits add up); None: the config's


def _worker_main(conn: Connection, cfg: VerifyConfig) -> None:
    """A worker leaves quietly when its parent is gone (killed, or stopped by SIGTERM): a closed pipe is the end
    of its work, not an error worth a traceback. Ctrl-C is the parent's to handle: it closes the pool itself."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        _serve(conn, cfg)
    except (EOFError, OSError):  # BrokenPipeError, ConnectionResetError: the parent closed its end
        return


def _serve(conn: Connection, cfg: VerifyConfig) -> None:
    from distill_cli.stages.verify.core import verify_one, warm_up

    warm_up()
    conn.send("ready")
    while True:
        batch = conn.recv()
        if batch is None:
            return
        for item in batch:
            try:
                verdict = verify_one(item.response, item.answer, item.domain, item.tests, cfg,
                                     finish_reason=item.finish_reason, problem=item.problem)
            except Exception as exc:  # noqa: BLE001 - a verifier bug on one row is that row's `error`
                verdict = error_verdict(item.domain, f"verifier_exception:{type(exc).__name__}")
            conn.send((item.index, verdict.as_tuple()))


@dataclass
class _Slot:
    proc: mp.process.BaseProcess
    conn: Connection
    pending: deque = field(default_factory=deque)
    since: float = 0.0


class VerifyPool:
    """`with VerifyPool(cfg) as pool: pool.run(items, on_result)`; workers live across calls (and shards)."""

    def __init__(self, cfg: VerifyConfig, context: str = "forkserver"):
        self.cfg = cfg
        self.ctx = mp.get_context(context)
        if context == "forkserver":
            self.ctx.set_forkserver_preload(["distill_cli.stages.verify.preload"])
        self.slots: list[_Slot] = []
        self.restarts = 0
        self.max_latency = 0.0  # longest time any item held a worker, seconds (bench and stats)

    def __enter__(self) -> VerifyPool:
        self.slots = [self._spawn() for _ in range(max(1, self.cfg.workers))]
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        for slot in self.slots:
            try:
                slot.conn.send(None)
            except (OSError, ValueError):
                pass
        for slot in self.slots:
            slot.proc.join(timeout=2)
            if slot.proc.is_alive():
                slot.proc.kill()
                slot.proc.join()
            slot.conn.close()
        self.slots = []

    def _spawn(self) -> _Slot:
        parent, child = self.ctx.Pipe()
        proc = self.ctx.Process(target=_worker_main, args=(child, self.cfg), daemon=True)
        proc.start()
        child.close()
        try:
            ready = parent.poll(START_TIMEOUT) and parent.recv() == "ready"
        except (EOFError, OSError):
            ready = False
        if not ready:
            proc.kill()
            raise StageFailure("verify worker did not start (a script that calls verify_frame must guard its "
                               "entry point with `if __name__ == '__main__':`)")
        return _Slot(proc, parent)

    def _replace(self, i: int) -> None:
        from distill_cli.stages.verify.sandbox import sweep_dead_worker

        slot = self.slots[i]
        if slot.proc.is_alive():
            slot.proc.kill()
        slot.proc.join()
        sweep_dead_worker(slot.proc.pid)
        slot.conn.close()
        self.restarts += 1
        self.slots[i] = self._spawn()

    def run(self, items: list[Item], on_result: Callable[[int, Verdict], None]) -> None:
        queue = deque(items)
        while queue or any(s.pending for s in self.slots):
            self._feed(queue)
            now = time.monotonic()
            wait_for = min((s.since + self._deadline(s.pending[0]) - now
                            for s in self.slots if s.pending), default=0.0)
            ready = wait([s.conn for s in self.slots if s.pending] + [s.proc.sentinel for s in self.slots
                                                                      if s.pending], timeout=max(0.0, wait_for))
            for i, slot in enumerate(self.slots):
                if slot.pending and (slot.conn in ready or slot.proc.sentinel in ready):
                    self._drain(i, queue, on_result)
            self._expire(queue, on_result)

    def _deadline(self, item: Item) -> float:
        return item.deadline if item.deadline is not None else self.cfg.item_deadline(item.domain)

    def _feed(self, queue: deque) -> None:
        for slot in self.slots:
            if slot.pending or not queue:
                continue
            # small batches near the end of the queue keep every worker busy until the last item
            size = 1 if queue[0].domain == "code" else max(1, min(self.cfg.batch_size,
                                                                   len(queue) // (2 * len(self.slots))))
            batch = [queue.popleft() for _ in range(min(size, len(queue)))]
            slot.pending.extend(batch)
            slot.since = time.monotonic()
            slot.conn.send(batch)

    def _drain(self, i: int, queue: deque, on_result) -> None:
        slot = self.slots[i]
        try:
            while slot.pending and slot.conn.poll():
                index, verdict = slot.conn.recv()
                item = slot.pending.popleft()
                assert item.index == index, "worker answered out of order"
                on_result(index, Verdict(*verdict))
                now = time.monotonic()
                self.max_latency = max(self.max_latency, now - slot.since)
                slot.since = now
        except (EOFError, OSError):
            pass
        if slot.pending and not slot.proc.is_alive():
            item = slot.pending.popleft()
            on_result(item.index, error_verdict(item.domain, f"worker_died:{_exit_reason(slot.proc.exitcode)}"))
            queue.extendleft(reversed(slot.pending))
            slot.pending.clear()
            self._replace(i)

    def _expire(self, queue: deque, on_result) -> None:
        now = time.monotonic()
        for i, slot in enumerate(self.slots):
            if slot.pending and now - slot.since > self._deadline(slot.pending[0]):
                slot.proc.kill()
                self.max_latency = max(self.max_latency, now - slot.since)
                item = slot.pending.popleft()
                on_result(item.index, timeout_verdict(item.domain))
                queue.extendleft(reversed(slot.pending))
                slot.pending.clear()
                self._replace(i)


def _exit_reason(code: int | None) -> str:
    if code is None:
        return "unknown"
    return f"signal{-code}" if code < 0 else f"exit{code}"
