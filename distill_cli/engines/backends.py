"""Build a generation backend from user options; generate and compress's rewrite both use these."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from distill_cli.engines.types import Backend
from distill_cli.errors import BadInput


def vllm_backend(model: str, seed: int = 0, dtype: str = "auto", tensor_parallel_size: int = 1,
                 max_model_len: int | None = None, gpu_memory_utilization: float | None = None,
                 enforce_eager: bool = False, max_num_seqs: int | None = None, quiet: bool = False,
                 kv_cache_memory: int | None = None, engine_args: dict | None = None, replicas: int = 1) -> Backend:
    """An offline vLLM engine on `model` (a path, a hub name, or `tiny` for the bundled demo model)."""
    from distill_cli.engines.vllm_backend import VLLMBackend
    from distill_cli.model import resolve_model

    return VLLMBackend(resolve_model(model), seed=seed, dtype=dtype, tensor_parallel_size=tensor_parallel_size,
                       max_model_len=max_model_len, gpu_memory_utilization=gpu_memory_utilization,
                       enforce_eager=enforce_eager, max_num_seqs=max_num_seqs, quiet=quiet,
                       kv_cache_memory=kv_cache_memory, engine_args=engine_args, replicas=replicas)


def openai_backend(model: str, base_url: str, api_key: str | None = None, concurrency: int = 64,
                   timeout: float = 600.0, max_retries: int = 5) -> Backend:
    """Any OpenAI-compatible server (`vllm serve`, SGLang, a proxy)."""
    from distill_cli.engines.openai_backend import OpenAIBackend

    return OpenAIBackend(model=model, base_url=base_url, api_key=api_key, concurrency=concurrency,
                         timeout=timeout, max_retries=max_retries)


BATCH_BACKENDS = ("openai-batch", "anthropic-batch")
DEFAULT_URL = "http://127.0.0.1:8000/v1"


def factory(backend: str, model: str, vllm: dict, server: dict, batch: dict) -> Callable[[], Backend]:
    """What builds the chosen backend when a shard first needs it, from that backend's options (the others'
    are ignored: the command refused them). A batch backend is built once now, so a missing key, a bad URL or
    limit fails before any shard starts."""
    from functools import partial

    if backend == "vllm":
        return partial(vllm_backend, model, **vllm)
    if backend == "openai":
        return partial(openai_backend, model, **{**server, "base_url": server.get("base_url") or DEFAULT_URL})
    make = partial(batch_backend, backend, model, **batch)
    make().close()
    return make


def batch_backend(provider: str, model: str, base_url: str | None = None, api_key: str | None = None,
                  max_requests: int | None = None, max_bytes: int | None = None,
                  poll_interval: float = 30.0) -> Backend:
    """A provider's batch API; unset limits and URL are the provider's (the URL may come from its SDK's env)."""
    import os

    from distill_cli.engines import anthropic_batch, openai_batch
    from distill_cli.engines.batch_common import BatchLimits

    if provider == "openai-batch":
        module, env, cls = openai_batch, "OPENAI_BASE_URL", openai_batch.OpenAIBatchBackend
    else:
        module, env, cls = anthropic_batch, "ANTHROPIC_BASE_URL", anthropic_batch.AnthropicBatchBackend
    limits = BatchLimits(max_requests or module.LIMITS.max_requests, max_bytes or module.LIMITS.max_bytes)
    url = base_url or os.environ.get(env) or module.BASE_URL
    return cls(model, url, api_key, limits, poll_interval=poll_interval)


def vllm_options(seed: int, dtype: str, tensor_parallel_size: int, max_model_len: int | None,
                 gpu_memory_utilization: float | None, enforce_eager: bool, max_num_seqs: int | None, quiet: bool,
                 kv_cache_memory: str | None, engine_arg: list[str] | None) -> dict:
    """The engine's keyword arguments from its options, checked before any work: --kv-cache-memory in bytes,
    --engine-arg parsed, and refused where distill has an option of its own for it."""
    from distill_cli.engines.engine_args import check_engine_args, parse_engine_args
    from distill_cli.engines.memory import parse_size

    args = parse_engine_args(engine_arg)
    check_engine_args(args)
    return {"seed": seed, "dtype": dtype, "tensor_parallel_size": tensor_parallel_size,
            "max_model_len": max_model_len, "gpu_memory_utilization": gpu_memory_utilization,
            "enforce_eager": enforce_eager, "max_num_seqs": max_num_seqs, "quiet": quiet,
            "kv_cache_memory": parse_size(kv_cache_memory) if kv_cache_memory else None, "engine_args": args}


class LazyBackend:
    """Build the backend at the first shard with work, once; a fully resumed run never starts an engine."""

    def __init__(self, make: Callable[[], Backend]):
        self.make, self.backend = make, None

    def get(self) -> Backend:
        if self.backend is None:
            self.backend = self.make()
        return self.backend

    def close(self) -> None:
        if self.backend is not None:
            self.backend.close()
            self.backend = None


def check_model_path(model: str) -> None:
    """A path that is not a model fails here, in one line, before an engine takes a minute to say so."""
    from distill_cli.model import TINY_ALIASES

    if model in TINY_ALIASES:
        return
    path = Path(model).expanduser()
    looks_local = model.startswith((".", "/", "~")) or model.count("/") > 1 or path.exists()
    if looks_local and not path.exists():
        raise BadInput(f"--model {model}: no such model directory")
    if path.is_dir() and not (path / "config.json").exists():
        raise BadInput(f"--model {model}: directory has no config.json (not a Hugging Face model)")


def default_model_name(model: str) -> str:
    from distill_cli.model import TINY_ALIASES, TINY_NAME

    if model in TINY_ALIASES:
        return TINY_NAME
    path = Path(model).expanduser()
    return path.resolve().name if path.exists() else model
