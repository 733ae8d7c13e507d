"""The pool's hard time bounds: pathological answers time out alone, dead workers are replaced, rows go on."""

from __future__ import annotations

import os
import signal
import threading
import time

import polars as pl
import pytest

from distill_cli.stages.verify.core import VerifyConfig, verify_frame
from distill_cli.stages.verify.pool import Item, VerifyPool

NESTED = "\\boxed{" + "\\frac{1}{" * 400 + "2" + "}" * 400 + "}"
HUGE = "The answer is \\boxed{" + "+".join(["x^{2}"] * 20000) + "}"  # about 100 kB


def _math(rows: list[tuple[str, str]]) -> pl.DataFrame:
    return pl.DataFrame({"response": [r for r, _ in rows], "answer": [a for _, a in rows],
                         "domain": ["math"] * len(rows), "model": ["m1", "m2"] * (len(rows) // 2) + ["m1"] *
                         (len(rows) % 2)})


@pytest.mark.slow
def test_adversarial_math_is_bounded_and_the_rest_is_verified():
    cfg = VerifyConfig(workers=2, timeout=2.0)
    rows = [("\\boxed{9^{9^{9^{9}}}}", "5"), (NESTED, "\\frac{1}{2}"), (HUGE, "x^2"),
            ("So \\boxed{\\frac{1}{2}}", "0.5"), ("\\boxed{42}", "42"), ("\\boxed{41}", "42")]
    with VerifyPool(cfg) as pool:
        started = time.monotonic()
        out, stats = verify_frame(_math(rows), cfg, pool=pool)
        elapsed = time.monotonic() - started
    verdicts = out["verdict"].to_list()
    assert all(v in ("timeout", "incorrect", "no_answer", "correct") for v in verdicts[:3])
    assert verdicts[3:] == ["correct", "correct", "incorrect"]
    # three pathological items on two workers: at most two deadlines in a row, plus worker replacement
    assert elapsed < 2 * cfg.timeout + 8, elapsed
    assert sum(stats["by_model"]["m1"].values()) + sum(stats["by_model"]["m2"].values()) == len(rows)


def test_one_worker_is_still_a_killable_process():
    cfg = VerifyConfig(workers=1, timeout=1.0)
    rows = [("\\boxed{9^{9^{9^{9}}}}", "5"), ("\\boxed{42}", "42")]
    with VerifyPool(cfg) as pool:
        assert pool.slots[0].proc.pid != os.getpid()
        out, stats = verify_frame(_math(rows), cfg, pool=pool)
        assert pool.restarts == 1
    assert out["verdict"].to_list() == ["timeout", "correct"]
    assert stats["reasons"] == {"item_timeout": 1}


def test_a_worker_that_dies_gives_error_for_its_item_only():
    """A worker killed from outside (as a segfault or the OOM killer would) costs one row, not the run."""
    cfg = VerifyConfig(workers=1, timeout=30.0)
    rows = [("\\boxed{9^{9^{9^{9}}}}", "5"), ("\\boxed{42}", "42"), ("\\boxed{7}", "8")]
    with VerifyPool(cfg) as pool:
        victim = pool.slots[0].proc.pid
        killer = threading.Timer(1.0, os.kill, (victim, signal.SIGKILL))
        killer.start()
        out, _ = verify_frame(_math(rows), cfg, pool=pool)
        killer.join()
        assert pool.slots[0].proc.pid != victim
    assert out["verdict"].to_list() == ["error", "correct", "incorrect"]


def test_results_follow_input_order_with_mixed_domains(pool):
    items = [Item(i, f"\\boxed{{{i}}}", str(i if i % 3 else i + 1), "math") for i in range(40)]
    items += [Item(40, "The answer is (B)", "B", "choice"), Item(41, "essay", None, "text")]
    got: dict = {}
    pool.run(items, lambda i, v: got.setdefault(i, v.verdict))
    assert sorted(got) == list(range(42))
    assert [got[i] for i in range(40)] == ["incorrect" if i % 3 == 0 else "correct" for i in range(40)]
    assert (got[40], got[41]) == ("correct", "unverifiable")


def test_stats_count_verdicts_per_domain_and_model(pool):
    df = pl.DataFrame({"response": ["\\boxed{1}", "\\boxed{2}", "(A)", "x"], "answer": ["1", "1", "A", None],
                       "domain": ["math", "math", "choice", "text"], "model": ["a", "b", "a", "b"]})
    out, stats = verify_frame(df, pool.cfg, pool=pool)
    assert out.columns[-8:-4] == ["verdict", "score", "extracted", "verifier"]
    assert stats["by_domain"] == {"math": {"correct": 1, "incorrect": 1}, "choice": {"correct": 1},
                                  "text": {"unverifiable": 1}}
    assert stats["by_model"] == {"a": {"correct": 2}, "b": {"incorrect": 1, "unverifiable": 1}}
