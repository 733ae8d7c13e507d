"""Tokens, cost, --max-cost, --dry-run, distill plan and --only-unsolved, as real `distill` processes against the
loopback fault server (an OpenAI-compatible fake that reports usage, with OpenAI's cached and reasoning details)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from distill_cli.schema import TRACES
from tests.support import fault_server
from tests.support.cli import DEMO_DATA, distill

MODEL = "fault-model"
pytestmark = pytest.mark.slow  # real processes: a few seconds each


@pytest.fixture(scope="module")
def server():
    with fault_server(usage_details=True) as srv:
        yield srv


@pytest.fixture(scope="module")
def prompts(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cost") / "prompts"
    proc = distill("collect", DEMO_DATA / "demo_gsm8k.jsonl", "-o", out, "--limit", 6, "-q")
    assert proc.returncode == 0, proc.stderr
    return out


def gen(prompts: Path, out: Path, server, *extra) -> list[str]:
    return ["generate", prompts, "-o", out, "--backend", "openai", "--base-url", server.base_url, "--model", MODEL,
            "--max-tokens", 64, *extra]


def rows(out: Path) -> pl.DataFrame:
    return pl.read_parquet(sorted(out.glob("part-*.parquet")))


def stats(out: Path) -> dict:
    return json.loads((out / "_stats.json").read_text())


def test_tokens_per_row_and_cost_in_stats(tmp_path, prompts, server):
    server.reset()
    out = tmp_path / "traces"
    proc = distill(*gen(prompts, out, server, "-n", 2, "--price", "in=2,out=8,cached=0.5"))
    assert proc.returncode == 0, proc.stderr
    df, st = rows(out), stats(out)
    # the fake reports cached = half the prompt and reasoning = the words of its thinking: recorded per row as sent
    assert (df["cached_tokens"] == df["prompt_tokens"] // 2).all() and (df["reasoning_tokens"] > 0).all()
    assert (df["reasoning_tokens"] < df["completion_tokens"]).all()
    sums = {k: int(df[f"{k}_tokens"].sum()) for k in ("prompt", "completion", "cached", "reasoning")}
    assert st["tokens"] == sums
    expected = ((sums["prompt"] - sums["cached"]) * 2 + sums["cached"] * 0.5 + sums["completion"] * 8) / 1e6
    assert st["cost"]["usd"] == pytest.approx(expected, abs=1e-6) and st["cost"]["price"]["source"] == "--price"
    assert f"stage cost ${expected:.4f}" in proc.stderr


def test_max_cost_stops_resumably_and_never_pays_twice(tmp_path, prompts, server):
    server.reset()
    out = tmp_path / "traces"
    args = gen(prompts, out, server, "-n", 2, "--price", "in=2,out=8", "--concurrency", 1, "--checkpoint-every", 1)
    first = distill(*args, "--max-cost", 0.001)
    assert first.returncode == 3, first.stderr
    assert first.stderr.strip().count("\n") == 0 and "--max-cost 0.001: the recorded cost reached" in first.stderr
    assert not (out / "_stats.json").exists()  # not complete
    paid = server.stats()["answered"]
    assert 0 < len(paid) < 12
    again = distill(*args, "--max-cost", 0.001)  # at the budget already: sends nothing
    assert again.returncode == 3 and server.stats()["answered"] == paid
    done = distill(*args, "--max-cost", 1)
    assert done.returncode == 0, done.stderr
    df = rows(out)
    assert df.height == 12 and df.select("id", "sample").n_unique() == 12
    final = server.stats()
    assert final["answered"] == {k: 1 for k in df["request_key"]}, (final, first.stderr, done.stderr)
    # the first run reached the budget and overshot it by at most --concurrency + 1 (= 2) requests
    first_rows = df.filter(pl.col("request_key").is_in(list(paid)))
    costs = sorted(((first_rows["prompt_tokens"] * 2 + first_rows["completion_tokens"] * 8) / 1e6).to_list())
    assert sum(costs) >= 0.001 and sum(costs[:-2]) < 0.001
    sums = {k: int(df[f"{k}_tokens"].sum()) for k in ("prompt", "completion")}
    assert stats(out)["cost"]["usd"] == pytest.approx((sums["prompt"] * 2 + sums["completion"] * 8) / 1e6, abs=1e-6)


def test_cost_needs_a_price_only_when_asked(tmp_path, prompts, server):
    out = tmp_path / "traces"
    proc = distill(*gen(prompts, out, server, "-n", 1, "--max-cost", 5))
    assert proc.returncode == 2 and proc.stderr.startswith("Error: --max-cost: no price for model 'fault-model'")
    assert not out.exists()
    plain = distill(*gen(prompts, out, server, "-n", 1, "--limit", 2))  # no budget: tokens recorded, cost null
    assert plain.returncode == 0, plain.stderr
    cost = stats(out)["cost"]
    assert cost["usd"] is None and "no price" in cost["note"] and stats(out)["tokens"]["prompt"] > 0


def test_dry_run_pilots_and_writes_nothing(tmp_path, prompts, server):
    server.reset()
    out = tmp_path / "traces"
    proc = distill(*gen(prompts, out, server, "-n", 4, "--dry-run", "--pilot", 2, "--price", "in=1,out=4"))
    assert proc.returncode == 0, proc.stderr
    assert not out.exists() and server.stats()["total_answered"] == 2
    text = " ".join(proc.stdout.split())
    assert "6 x 4" in text and "pilot: mean of 2 real generations" in text and "dry run: nothing was written" in text
    nopilot = distill(*gen(prompts, out, server, "--dry-run", "--model", "gpt-4o-mini", "--mean-completion-tokens",
                           100))
    assert nopilot.returncode == 0 and "bundled prices.yaml" in " ".join(nopilot.stdout.split())
    bad = distill(*gen(prompts, out, server, "--pilot", 2))
    assert bad.returncode == 2 and "--pilot: only with --dry-run" in bad.stderr


def test_plan_of_a_pipeline_collects_into_a_temporary_directory(tmp_path, server):
    pipeline = tmp_path / "p.yaml"
    run_dir = tmp_path / "run"
    pipeline.write_text(f"""run_dir: {run_dir}
stages:
  - collect: {{sources: [{DEMO_DATA / 'demo_math500.jsonl'}], limit: 5}}
  - generate: {{model: gpt-4o-mini, backend: openai, base_url: {server.base_url}, n: 3, max_tokens: 64}}
  - verify: {{}}
""")
    server.reset()
    proc = distill("plan", pipeline, "--mean-completion-tokens", 50)
    assert proc.returncode == 0, proc.stderr
    text = " ".join(proc.stdout.split())
    assert "5 x 3" in text and "gpt-4o-mini (openai)" in text and "given: --mean-completion-tokens 50" in text
    assert not run_dir.exists() and server.stats()["total_received"] == 0  # nothing written, nothing sent
    unpriced = pipeline.read_text().replace("gpt-4o-mini", MODEL)
    pipeline.write_text(unpriced)
    proc = distill("plan", pipeline, "--pilot", 2)
    assert proc.returncode == 2 and proc.stderr.startswith("Error: plan: no price for model 'fault-model'")
    assert server.stats()["total_received"] == 0  # refused before the pilot paid


def traces_from_another_tool(prompts: Path, path: Path, correct: dict[int, int], samples: int = 2) -> None:
    """Traces as a Parquet file (as another tool would write them): prompt i gets correct[i] right answers."""
    src = pl.read_parquet(sorted(prompts.glob("part-*.parquet")))
    out = []
    for i, row in enumerate(src.iter_rows(named=True)):
        for s in range(samples):
            answer = row["answer"] if s < correct.get(i, 0) else "-12345"
            text = f"So the answer is \\boxed{{{answer}}}."
            out.append({**row, "model": "teacher-a", "sample": s, "completion": text, "reasoning": None,
                        "response": text, "finish_reason": "stop", "prompt_tokens": 50, "completion_tokens": 9,
                        "gen_params": "{}", "seed": 0})
    pl.DataFrame(out).select([pl.col(c).cast(t) for c, t in TRACES.items()]).write_parquet(path)


def test_only_unsolved_escalates_to_another_model(tmp_path, prompts, server):
    traces = tmp_path / "teacher-a.parquet"
    traces_from_another_tool(prompts, traces, {0: 2, 1: 1, 2: 2})  # 0, 2 solved; 1 half; 3, 4, 5 unsolved
    for stage, args in (("verify", ["--workers", 1]), ("grade", [])):
        src = traces if stage == "verify" else tmp_path / "verified"
        proc = distill(stage, src, "-o", tmp_path / ("verified" if stage == "verify" else "graded"), "-q", *args)
        assert proc.returncode == 0, proc.stderr
    ids = pl.read_parquet(sorted(prompts.glob("part-*.parquet")))["id"].to_list()
    server.reset()
    out = tmp_path / "teacher-b"
    proc = distill(*gen(prompts, out, server, "-n", 2, "--only-unsolved", tmp_path / "verified",
                        "--model-name", "teacher-b"))
    assert proc.returncode == 0, proc.stderr
    df = rows(out)
    assert set(df["id"]) == {ids[3], ids[4], ids[5]} and df.height == 6 and set(df["model"]) == {"teacher-b"}
    assert server.stats()["total_answered"] == 6
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["params"]["generate"]["only_unsolved"]["prompts"] == 3
    below = distill(*gen(prompts, tmp_path / "b2", server, "-n", 1, "--only-unsolved", tmp_path / "graded",
                         "--below", 0.75))
    assert below.returncode == 0, below.stderr
    assert set(rows(tmp_path / "b2")["id"]) == {ids[1], ids[3], ids[4], ids[5]}
    refused = distill(*gen(prompts, tmp_path / "b3", server, "--only-unsolved", prompts))
    assert refused.returncode == 2 and "give the output of `distill verify` or `distill grade`" in refused.stderr
