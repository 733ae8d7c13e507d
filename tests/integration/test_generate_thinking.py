"""Both generate backends split thinking by one rule when the chat template opens `<think>` in the prompt.

DeepSeek-R1-Distill's template ends the prompt with `<think>\\n`, so the completion starts inside the thinking
and a sample cut off by --max-tokens never closes it. The bundled tiny model is given such a template; the same
prompts run through the offline engine (a real `distill generate` process) and then through the openai backend
against a real `vllm serve` of the same directory on loopback (one engine alive at a time). Greedy sampling, one
prompt that finishes and one that is cut off: both backends must store the same columns.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # `tests.support` (no tests/__init__.py)

from tests.support import distill_env, vllm_serve  # noqa: E402

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

DEMO = Path(__file__).resolve().parents[2] / "distill_cli" / "data" / "demo_gsm8k.jsonl"
SERVED = "tiny-think"
SAMPLING = ["-n", "1", "--temperature", "0", "--max-tokens", "24"]
COLUMNS = ["id", "sample", "completion", "reasoning", "response", "finish_reason", "completion_tokens"]


def distill(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "distill_cli", *map(str, args)], capture_output=True, text=True,
                          timeout=1200, env=distill_env())


@pytest.fixture(scope="module")
def think_model(tmp_path_factory) -> Path:
    """The tiny model with a template whose generation prompt opens the thinking, as R1-Distill's does."""
    from distill_cli.model import build_tiny

    tiny, out = build_tiny(), tmp_path_factory.mktemp("think-model")
    for f in tiny.iterdir():
        if f.name != "chat_template.jinja":
            (out / f.name).symlink_to(f)
    template = (tiny / "chat_template.jinja").read_text()
    opening = "'<|im_start|>assistant\n' }}"
    assert opening in template
    (out / "chat_template.jinja").write_text(template.replace(opening, "'<|im_start|>assistant\n<think>\n' }}"))
    return out


@pytest.fixture(scope="module")
def prompts(tmp_path_factory) -> Path:
    """A real GSM8K problem (the tiny model reasons past 24 tokens: cut off) and a question it answers at once."""
    root = tmp_path_factory.mktemp("think-prompts")
    src = root / "prompts.jsonl"
    short = {"question": "What is 2 + 2? Reply with the number only.", "answer": "#### 4"}
    src.write_text(DEMO.read_text().splitlines()[0] + "\n" + json.dumps(short) + "\n")
    proc = distill("collect", src, "-o", root / "prompts", "-q")
    assert proc.returncode == 0, proc.stderr
    return root / "prompts"


def traces(out: Path) -> pl.DataFrame:
    return pl.read_parquet(sorted(out.glob("part-*.parquet"))).sort("id", "sample")


def test_offline_and_served_backends_split_an_opened_think_the_same(think_model, prompts, tmp_path):
    offline = distill("generate", prompts, "-o", tmp_path / "offline", "--model", think_model, "--dtype", "float32",
                      "--enforce-eager", "--max-model-len", "512", *SAMPLING)
    assert offline.returncode == 0, offline.stderr[-3000:]
    with vllm_serve(think_model, SERVED, tmp_path / "serve.log", max_model_len=512,
                    health_timeout=600) as base_url:  # after the offline engine has exited
        served = distill("generate", prompts, "-o", tmp_path / "served", "--backend", "openai", "--base-url",
                         base_url, "--model", SERVED, *SAMPLING)
    assert served.returncode == 0, served.stderr[-3000:]
    a, b = traces(tmp_path / "offline"), traces(tmp_path / "served")
    assert sorted(a["finish_reason"]) == ["length", "stop"]  # one cut-off sample, one finished
    for df in (a, b):
        # the thinking was opened by the prompt and never closed: all of it is reasoning, nothing is an answer
        assert (df["reasoning"] == df["completion"].str.strip_chars()).all() and (df["response"] == "").all()
    assert a.select(COLUMNS).equals(b.select(COLUMNS)), (a.select(COLUMNS), b.select(COLUMNS))
    # the offline engine counts reasoning tokens itself (all of them here); this server reports none: null, not 0
    assert (a["reasoning_tokens"] == a["completion_tokens"]).all() and b["reasoning_tokens"].is_null().all()
