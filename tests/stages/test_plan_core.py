"""The arithmetic of a plan: totals, cost, wall time, and how each number was obtained."""

from __future__ import annotations

import pytest

from distill_cli.engines.pricing import resolve
from distill_cli.stages.plan.core import Estimate, Pilot, completion_estimate, fmt_seconds


def estimate(priced, pilot=None, mean=None, concurrency=8) -> Estimate:
    mean_tokens, how = completion_estimate(pilot, mean, 512)
    return Estimate("generate", "m", priced.backend, prompts=100, n=4, max_tokens=512, prompt_tokens=20_000,
                    prompt_tokens_how="counted", priced=priced, concurrency=concurrency,
                    mean_completion=mean_tokens, completion_how=how, pilot=pilot)


def test_hosted_cost_from_pilot():
    pilot = Pilot((100, 300), (2.0, 4.0), start_s=0.5, prompt_tokens=400)
    est = estimate(resolve("gpt-4o-mini", "openai"), pilot)
    assert est.requests == 400 and est.total_prompt_tokens == 80_000 and est.total_completion_tokens == 80_000
    assert est.cost == pytest.approx((80_000 * 0.15 + 80_000 * 0.60) / 1e6)
    assert est.pilot_cost == pytest.approx((400 * 0.15 + 400 * 0.60) / 1e6)
    secs, how = est.wall()
    assert secs == pytest.approx(50 * 3.0) and "50 waves of --concurrency 8" in how  # 400/8 waves x 3 s mean
    assert "pilot: mean of 2 real generations" in est.completion_how


def test_batch_backend_is_discounted_and_slow():
    est = estimate(resolve("gpt-4o-mini", "openai-batch"), mean=200)
    assert est.cost == pytest.approx((80_000 * 0.15 + 80_000 * 0.60) / 1e6 / 2)
    assert est.wall()[0] == 24 * 3600 and est.completion_how.startswith("given")


def test_local_engine_is_free_and_timed_by_throughput():
    pilot = Pilot((50, 50, 50, 50), (5.0, 6.0, 9.0, 10.0), start_s=30.0)
    est = estimate(resolve("tiny", "vllm"), pilot)
    assert est.cost == 0.0 and "no API price" in est.price_how
    secs, how = est.wall()
    assert secs == pytest.approx(30 + 400 * 50 / 20.0) and "20 tok/s" in how  # 200 tokens in 10 s


def test_without_pilot_or_mean_the_ceiling_is_used_and_time_unknown():
    est = estimate(resolve("gpt-4o", "openai"))
    assert est.total_completion_tokens == 400 * 512 and "ceiling" in est.completion_how
    assert est.wall() == (None, "unknown without a pilot (--pilot N measures it)")
    unknown = estimate(resolve("no-such-model", "openai"))
    assert unknown.cost is None and "no price" in unknown.price_how


def test_fmt_seconds():
    assert [fmt_seconds(s) for s in (None, 42, 600, 7300)] == ["?", "42s", "10m00s", "2h01m"]
