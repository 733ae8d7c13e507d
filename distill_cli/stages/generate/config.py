"""generate's frozen params: the teacher, how many samples, sampling, prompt rendering, output-shaping engine args."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Literal

from distill_cli.engines.backends import BATCH_BACKENDS
from distill_cli.engines.types import Sampling
from distill_cli.errors import BadInput

BackendName = Literal["vllm", "openai", "openai-batch", "anthropic-batch"]
LogprobDtype = Literal["float32", "float16"]
LOGPROB_ROWS_PER_SHARD = 64  # prompts: a shard's top-K are held until it is written (64 x n 8 x 4k tokens x K 20)


@dataclass(frozen=True)
class GenerateConfig:
    model: str  # what the backend loads or asks for (a path, a hub name, a served model name)
    model_name: str  # what the `model` column records
    backend: BackendName = "vllm"
    n: int = 8
    sampling: Sampling = field(default_factory=Sampling)
    system_prompt: str | None = None
    prompt_template: str | None = None
    chat_template_kwargs: dict = field(default_factory=dict)
    engine: dict = field(default_factory=dict)  # engine options that shape the output (dtype, max_model_len, ...)
    logprobs_dtype: LogprobDtype = "float32"  # how topk_logprobs is stored (with sampling.logprobs)

    def gen_params(self) -> str:
        """The `gen_params` column: everything needed to reproduce a row's request."""
        stored = {"logprobs_dtype": self.logprobs_dtype} if self.sampling.logprobs is not None else {}
        return json.dumps({"backend": self.backend, "n": self.n, **self.sampling.fields(), **stored,
                           "system_prompt": self.system_prompt, "prompt_template": self.prompt_template,
                           "chat_template_kwargs": self.chat_template_kwargs, **self.engine}, sort_keys=True)


# options only some backends read (the others refuse them: issue 22)
READERS: dict[str, tuple[str, ...]] = {
    **{name: ("vllm",) for name in ("dtype", "tensor_parallel_size", "gpu_memory_utilization", "enforce_eager",
                                     "max_num_seqs")},
    **{name: ("openai",) for name in ("concurrency", "request_timeout", "max_retries")},
    **{name: ("openai", *BATCH_BACKENDS) for name in ("base_url", "api_key")},
    **{name: BATCH_BACKENDS for name in ("batch_max_requests", "batch_max_bytes", "poll_interval")},
}


def generate_config(model: str, model_name: str | None, backend: BackendName, n: int, sampling: Sampling,
                    system_prompt: str | None, prompt_template: str | None, chat_template_kwargs: str | None,
                    logprobs_dtype: LogprobDtype, dtype: str, max_model_len: int | None,
                    engine_args: dict) -> GenerateConfig:
    """The run's params, checked before any work: what the backend cannot take, the prompt template, the chat
    template's JSON, a local model path; vllm's seed defaults to 0 and its dtype is resolved ('auto' on CPU)."""
    from distill_cli.engines.backends import check_model_path, default_model_name
    from distill_cli.engines.render import check_template, parse_template_kwargs

    if backend == "anthropic-batch":
        anthropic_options(chat_template_kwargs, sampling.temperature)
    check_template(prompt_template)
    kwargs = parse_template_kwargs(chat_template_kwargs)
    if backend == "vllm":
        check_model_path(model)
        sampling = replace(sampling, seed=sampling.seed or 0)
    engine = {"dtype": resolved_dtype(dtype) if backend == "vllm" else None, "max_model_len": max_model_len,
              "engine_args": engine_args or None}
    return GenerateConfig(model=model, model_name=model_name or default_model_name(model), backend=backend, n=n,
                          sampling=sampling, system_prompt=system_prompt, prompt_template=prompt_template,
                          chat_template_kwargs=kwargs, engine={k: v for k, v in engine.items() if v is not None},
                          logprobs_dtype=logprobs_dtype)


def engine_options(backend: str, engine_arg: list[str] | None, kv_cache_memory: str | None, replicas: int,
                   executor: str) -> tuple[dict, int | None]:
    """Engine-only options, checked before any work: the engine arguments' names, the KV-cache size."""
    from distill_cli.engines.engine_args import check_engine_args, parse_engine_args
    from distill_cli.engines.memory import parse_size

    if backend != "vllm":
        given = [o for o, v in (("--engine-arg", engine_arg), ("--kv-cache-memory", kv_cache_memory),
                                ("--data-parallel-size", replicas > 1)) if v]
        if given:
            raise BadInput(f"{given[0]}: only with --backend vllm (a server sizes its own engine)")
    if replicas > 1 and executor == "ray":
        raise BadInput("--data-parallel-size: not with --executor ray (Ray already runs one engine per task)")
    args = parse_engine_args(engine_arg)
    check_engine_args(args)
    return args, (parse_size(kv_cache_memory) if kv_cache_memory is not None else None)


def resolved_dtype(dtype: str) -> str:
    if dtype != "auto":
        return dtype
    from distill_cli.engines.vllm_backend import resolve_dtype

    return resolve_dtype(dtype)


def anthropic_options(chat_template_kwargs: str | None, temperature: float) -> None:
    """What the Messages API cannot take, refused before any batch is paid for."""
    if chat_template_kwargs:
        raise BadInput("--chat-template-kwargs: not with --backend anthropic-batch (the Messages API has no chat "
                       "template)")
    if temperature > 1.0:
        raise BadInput(f"--temperature {temperature:g}: at most 1 with --backend anthropic-batch (the Messages "
                       "API's range)")


def check_logprobs(backend: str, k: int | None, dtype_given: bool, rows_per_shard: int, rows_given: bool) -> int:
    """The options read with --logprobs; returns the rows per shard, smaller by default when top-K are kept."""
    if k is not None and backend not in ("vllm", "openai"):
        raise BadInput(f"--logprobs: only with --backend vllm or openai (--backend {backend} returns no token ids)")
    if k is None and dtype_given:
        raise BadInput("--logprobs-dtype is read only with --logprobs; it does nothing without it, so it is refused "
                       "rather than ignored")
    return LOGPROB_ROWS_PER_SHARD if k is not None and not rows_given else rows_per_shard


def with_max_logprobs(k: int | None, engine_args: dict) -> dict:
    """The engine arguments a run with top-K needs (vLLM's max_logprobs raised to K: engines/logprobs.py)."""
    from distill_cli.engines.logprobs import max_logprobs_arg

    return max_logprobs_arg(k, engine_args)
