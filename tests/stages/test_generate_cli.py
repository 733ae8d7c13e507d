"""`distill generate` refuses bad input in one line, before any engine starts, and leaves no output behind."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import polars as pl
import pytest

DEMO = Path(str(resources.files("distill_cli") / "data" / "demo_gsm8k.jsonl"))


def distill(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "distill_cli", *map(str, args)], capture_output=True, text=True,
                          timeout=120, env=os.environ.copy())


@pytest.fixture(scope="module")
def prompts(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen") / "prompts"
    proc = distill("collect", DEMO, "-o", out, "--limit", "3", "-q")
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.mark.parametrize("extra, message", [
    (["--model", "/no/such/teacher"], "Error: --model /no/such/teacher: no such model directory"),
    (["--model", "tiny", "--prompt-template", "Solve:"], "Error: --prompt-template: must contain {prompt}"),
    (["--model", "tiny", "--chat-template-kwargs", "{thinking}"], "Error: --chat-template-kwargs: not valid JSON"),
    (["--model", "tiny", "--backend", "tgi"],
     "Error: --backend 'tgi': expected vllm, openai, openai-batch or anthropic-batch"),
])
def test_bad_options_are_one_line_errors(prompts, tmp_path, extra, message):
    proc = distill("generate", prompts, "-o", tmp_path / "traces", *extra)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip().splitlines()[0]]
    assert proc.stderr.startswith(message)
    assert not (tmp_path / "traces").exists()


def test_model_dir_without_config_is_refused(prompts, tmp_path):
    (tmp_path / "weights").mkdir()
    proc = distill("generate", prompts, "-o", tmp_path / "traces", "--model", tmp_path / "weights")
    assert proc.returncode == 2 and "no config.json" in proc.stderr


def test_input_without_prompt_column(tmp_path):
    pl.DataFrame({"id": ["a"], "question": ["What is 12+7?"]}).write_parquet(tmp_path / "q.parquet")
    proc = distill("generate", tmp_path / "q.parquet", "-o", tmp_path / "traces", "--model", "tiny")
    assert proc.returncode == 2
    assert "missing column 'prompt' needed by generate" in proc.stderr and "q.parquet" in proc.stderr
    assert not (tmp_path / "traces").exists()


def test_model_names(tmp_path):
    from distill_cli.engines.backends import default_model_name

    assert default_model_name("tiny") == "smollm2-135m-instruct"
    assert default_model_name("Qwen/QwQ-32B") == "Qwen/QwQ-32B"
    (tmp_path / "r1-distill-7b").mkdir()
    assert default_model_name(str(tmp_path / "r1-distill-7b")) == "r1-distill-7b"
