"""Helpers for the benchmark scripts: run a command as a child process, report wall time and its peak RSS."""

from __future__ import annotations

import os
import subprocess
import time


def run_measured(argv: list[str], env: dict | None = None) -> tuple[float, float]:
    """Run argv to completion; return (wall seconds, peak RSS in MiB) of that child alone."""
    return run_usage(argv, env)[:2]


def run_usage(argv: list[str], env: dict | None = None) -> tuple[float, float, float]:
    """(wall seconds, peak RSS in MiB, CPU seconds user + system) of the child argv alone. On a shared machine
    the CPU seconds say more than the wall time, which grows with everyone else's load."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, env={**os.environ, **(env or {})})
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"benchmark command failed: {' '.join(argv)}")
    return wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def run_tree_usage(argv: list[str], every: float = 0.25) -> tuple[float, float, float, float]:
    """run_usage, plus the largest summed RSS of the child and all its descendants (MiB), sampled every `every`
    seconds: ru_maxrss is one process's peak, and a stage with worker processes (verify --workers) holds more."""
    import threading

    import psutil

    started = time.perf_counter()
    proc = subprocess.Popen(argv)
    peak, done = [0.0], threading.Event()

    def sample() -> None:
        try:
            root = psutil.Process(proc.pid)
        except psutil.Error:  # already exited
            return
        while not done.wait(every):
            total = 0
            try:
                for p in [root, *root.children(recursive=True)]:
                    total += p.memory_info().rss
            except psutil.Error:  # a worker exited between the listing and its read
                continue
            peak[0] = max(peak[0], total / 2**20)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    _, status, usage = os.wait4(proc.pid, 0)
    done.set()
    watcher.join()
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"benchmark command failed: {' '.join(argv)}")
    return wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime, peak[0]


def median_run(runs: list[tuple[float, ...]]) -> tuple[float, ...]:
    """Runs measured as (wall, ..., peak RSS): the run with the median wall time (its other fields with it), and
    the largest peak RSS seen in any of them."""
    middle = sorted(runs)[len(runs) // 2]
    return (*middle[:-1], max(r[-1] for r in runs))


def table(rows: list[tuple], header: tuple) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(fmt.format(*map(str, r)) for r in [header, *rows])
