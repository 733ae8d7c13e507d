"""distill generate: a prompts stage directory in, teacher traces out (offline vLLM or an OpenAI-compatible server)."""

from __future__ import annotations

from functools import partial
from typing import Annotated

import typer

from distill_cli.cli.base import app
from distill_cli.cli.common import (
    Executor,
    Limit,
    Output,
    Overwrite,
    ProgressInterval,
    Quiet,
    RayAddress,
    RowsPerShard,
    Shard,
    Workers,
    choice,
    refuse_unused,
    run_options,
    typed,
)
from distill_cli.cli.cost_options import Below, DryRun, MaxCost, MeanCompletion, OnlyUnsolved, Pilot, Price, PriceTable
from distill_cli.engines.backends import (
    BATCH_BACKENDS,
    batch_backend,
    check_model_path,
    default_model_name,
    openai_backend,
    vllm_backend,
)
from distill_cli.engines.render import check_template, parse_template_kwargs
from distill_cli.engines.types import Sampling
from distill_cli.stages.generate.config import (
    BackendName,
    GenerateConfig,
    LogprobDtype,
    anthropic_options,
    check_logprobs,
    engine_options,
    resolved_dtype,
    with_max_logprobs,
)

SAMPLING, ENGINE, HTTP, CKPT = "Sampling", "vLLM engine (--backend vllm)", "Server (--backend openai)", "Checkpoints"
BATCH = "Batch APIs (--backend openai-batch | anthropic-batch)"
EXAMPLE = ("Example: distill generate runs/x/prompts -o runs/x/traces --model tiny -n 4 --max-tokens 512 "
           "--prompt-template '{prompt} Put your final answer within \\boxed{}.'")


# options only one backend reads (the other refuses them: issue 22)
READERS: dict[str, tuple[str, ...]] = {
    **{name: ("vllm",) for name in ("dtype", "tensor_parallel_size", "gpu_memory_utilization", "enforce_eager",
                                     "max_num_seqs")},
    **{name: ("openai",) for name in ("concurrency", "request_timeout", "max_retries")},
    **{name: ("openai", *BATCH_BACKENDS) for name in ("base_url", "api_key")},
    **{name: BATCH_BACKENDS for name in ("batch_max_requests", "batch_max_bytes", "poll_interval")},
}


@app.command(epilog=EXAMPLE)
def generate(
    ctx: typer.Context,
    input: Annotated[str, typer.Argument(help="Prompts stage directory (or Parquet file/glob with id, prompt).",
                                         show_default=False)],
    output: Output,
    model: Annotated[str, typer.Option("--model", "-m", help="Model path or hub name for vLLM, served model name "
                                       "for openai; 'tiny' = the bundled SmolLM2-135M-Instruct.",
                                       show_default=False)],
    backend: Annotated[BackendName, choice(BackendName, "--backend", help="vllm (offline engine) | openai (any "
                                           "OpenAI-compatible server) | openai-batch | anthropic-batch (the providers' "
                                           "batch APIs, half price).")
                       ] = "vllm",
    n: Annotated[int, typer.Option("-n", "--samples", min=1, help="Samples per prompt.")] = 8,
    model_name: Annotated[str | None, typer.Option(help="Name recorded in the `model` column (default: "
                                                      "derived from --model).")] = None,
    temperature: Annotated[float, typer.Option(min=0.0, rich_help_panel=SAMPLING)] = 0.6,
    top_p: Annotated[float, typer.Option(min=0.0, max=1.0, rich_help_panel=SAMPLING)] = 0.95,
    top_k: Annotated[int, typer.Option(min=-1, help="-1: off.", rich_help_panel=SAMPLING)] = -1,
    max_tokens: Annotated[int, typer.Option(min=1, help="Completion token budget per sample.",
                                            rich_help_panel=SAMPLING)] = 4096,
    seed: Annotated[int | None, typer.Option(help="vllm: the engine seed (default 0); openai: sent per "
                                                "request.", rich_help_panel=SAMPLING)] = None,
    system_prompt: Annotated[str | None, typer.Option(help="System message before each prompt.",
                                                         rich_help_panel=SAMPLING)] = None,
    prompt_template: Annotated[str | None, typer.Option(help="User message with {prompt} in it.",
                                                           rich_help_panel=SAMPLING)] = None,
    chat_template_kwargs: Annotated[str | None, typer.Option(help="JSON passed to the chat template, e.g. "
                                                                "'{\"enable_thinking\": true}'.",
                                                                rich_help_panel=SAMPLING)] = None,
    logprobs: Annotated[int | None, typer.Option(
        "--logprobs", min=0, help="Keep each completion token's id and logprob and the model's top-K "
        "(token_ids, token_logprobs, topk_ids, topk_logprobs; 0: no top-K).", show_default=False,
        rich_help_panel=SAMPLING)] = None,
    logprobs_dtype: Annotated[LogprobDtype, choice(LogprobDtype, "--logprobs-dtype", help="How topk_logprobs is "
                                                   "stored.", rich_help_panel=SAMPLING)] = "float32",
    dtype: Annotated[str, typer.Option(help="auto (float32 on CPU), float32, bfloat16, float16.",
                                       rich_help_panel=ENGINE)] = "auto",
    max_model_len: Annotated[int | None, typer.Option(min=16, help="Context length; longer prompts become "
                                                         "error rows.", rich_help_panel=ENGINE)] = None,
    tensor_parallel_size: Annotated[int, typer.Option(min=1, rich_help_panel=ENGINE)] = 1,
    kv_cache_memory: Annotated[str | None, typer.Option(
        "--kv-cache-memory", help="KV-cache size: 1GiB, 512MiB or bytes; wins over --gpu-memory-utilization. On "
        "CPU without either, distill sizes it (max-num-seqs x max-model-len tokens, at most half the free "
        "memory).", show_default=False, rich_help_panel=ENGINE)] = None,
    gpu_memory_utilization: Annotated[float | None, typer.Option(
        min=0.001, max=1.0, help="GPU: the share of GPU memory vLLM may use (vLLM's default 0.9). On CPU prefer "
        "--kv-cache-memory.", rich_help_panel=ENGINE)] = None,
    enforce_eager: Annotated[bool, typer.Option(help="No CUDA graphs / compilation: faster start.",
                                                rich_help_panel=ENGINE)] = False,
    max_num_seqs: Annotated[int | None, typer.Option(min=1, help="Sequences batched at once.",
                                                        rich_help_panel=ENGINE)] = None,
    engine_arg: Annotated[list[str] | None, typer.Option(
        "--engine-arg", help="KEY=VALUE passed to vllm.LLM verbatim (VALUE read as JSON, else a string), e.g. "
        "enable_prefix_caching=true; repeat for more.", show_default=False, rich_help_panel=ENGINE)] = None,
    data_parallel_size: Annotated[int, typer.Option(
        "--data-parallel-size", min=1, help="Engine replicas on this node, each a process with its own engine "
        "doing its share of the shards (GPUs: tensor-parallel-size each).", rich_help_panel=ENGINE)] = 1,
    base_url: Annotated[str | None, typer.Option(
        help="Server URL (openai: http://127.0.0.1:8000/v1; openai-batch: env OPENAI_BASE_URL, else "
        "https://api.openai.com/v1; anthropic-batch: env ANTHROPIC_BASE_URL, else https://api.anthropic.com/v1).",
        show_default=False, rich_help_panel=HTTP)] = None,
    api_key: Annotated[str | None, typer.Option(
        show_default=False, help="API key (openai: env DISTILL_API_KEY, then OPENAI_API_KEY; openai-batch: "
        "OPENAI_API_KEY; anthropic-batch: ANTHROPIC_API_KEY).", rich_help_panel=HTTP)] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Requests in flight.", rich_help_panel=HTTP)] = 64,
    request_timeout: Annotated[float, typer.Option(min=1.0, help="Seconds per request.", rich_help_panel=HTTP)
                               ] = 600.0,
    max_retries: Annotated[int, typer.Option(min=0, rich_help_panel=HTTP)] = 5,
    batch_max_requests: Annotated[int | None, typer.Option(
        min=1, show_default=False, help="Requests per batch (openai-batch: 50000; anthropic-batch: 100000).",
        rich_help_panel=BATCH)] = None,
    batch_max_bytes: Annotated[int | None, typer.Option(
        min=1024, show_default=False, help="Bytes per batch (openai-batch: 200000000; anthropic-batch: "
        "256000000).", rich_help_panel=BATCH)] = None,
    poll_interval: Annotated[float, typer.Option(min=0.0, help="Seconds between polls of a submitted batch.",
                                                 rich_help_panel=BATCH)] = 30.0,
    checkpoint_every: Annotated[int, typer.Option(min=1, help="Save finished samples every N results ...",
                                                  rich_help_panel=CKPT)] = 64,
    checkpoint_seconds: Annotated[float, typer.Option(min=0.0, help="... or every S seconds.",
                                                      rich_help_panel=CKPT)] = 30.0,
    shard: Shard = None,
    limit: Limit = None,
    overwrite: Overwrite = False,
    workers: Workers = 1,
    quiet: Quiet = False,
    progress_interval: ProgressInterval = 30.0,
    rows_per_shard: RowsPerShard = 10_000,
    executor: Executor = "local",
    ray_address: RayAddress = None,
    price: Price = None,
    price_table: PriceTable = None,
    max_cost: MaxCost = None,
    dry_run: DryRun = False,
    pilot: Pilot = 0,
    mean_completion_tokens: MeanCompletion = None,
    only_unsolved: OnlyUnsolved = None,
    below: Below = None,
) -> None:
    """Generate n teacher traces per prompt; resumes a killed run without re-sending finished samples."""
    if backend == "anthropic-batch":
        anthropic_options(chat_template_kwargs, temperature)
    refuse_unused(ctx, READERS, (backend,), "--backend")
    check_template(prompt_template)
    kwargs = parse_template_kwargs(chat_template_kwargs)
    given = typed(ctx)
    rows_per_shard = check_logprobs(backend, logprobs, "logprobs_dtype" in given, rows_per_shard,
                                    "rows_per_shard" in given)
    opts = run_options(output, shard, limit, overwrite, workers, quiet, rows_per_shard, progress_interval)
    engine_args, kv_bytes = engine_options(backend, engine_arg, kv_cache_memory, data_parallel_size, executor)
    if backend == "vllm":
        check_model_path(model)
        seed = 0 if seed is None else seed
    engine = {"dtype": resolved_dtype(dtype) if backend == "vllm" else None, "max_model_len": max_model_len,
              "engine_args": engine_args or None}
    cfg = GenerateConfig(
        model=model, model_name=model_name or default_model_name(model), backend=backend,
        n=n, sampling=Sampling(temperature, top_p, top_k, max_tokens, seed, logprobs), system_prompt=system_prompt,
        prompt_template=prompt_template, chat_template_kwargs=kwargs,
        engine={k: v for k, v in engine.items() if v is not None},
        logprobs_dtype=logprobs_dtype)
    if backend == "vllm":
        make_backend = partial(vllm_backend, model, seed or 0, dtype, tensor_parallel_size, max_model_len,
                               gpu_memory_utilization, enforce_eager, max_num_seqs, quiet, kv_cache_memory=kv_bytes,
                               engine_args=with_max_logprobs(logprobs, engine_args), replicas=data_parallel_size)
    elif backend == "openai":
        make_backend = partial(openai_backend, model, base_url or "http://127.0.0.1:8000/v1", api_key, concurrency,
                               request_timeout, max_retries)
    else:
        make_backend = partial(batch_backend, backend, model, base_url, api_key, batch_max_requests,
                               batch_max_bytes, poll_interval)
        make_backend().close()  # key, URL and limits checked now, before any shard starts
    from distill_cli.stages.generate.run import run
    from distill_cli.stages.generate.spend import prepare

    spend = prepare(model, backend, price, price_table, max_cost, dry_run, pilot, mean_completion_tokens,
                    only_unsolved, below, parallel=executor == "ray" or data_parallel_size > 1)
    plan = (pilot, mean_completion_tokens, concurrency if backend == "openai" else 1) if dry_run else None
    run(input, cfg, opts, make_backend, executor, ray_address, data_parallel_size, tensor_parallel_size,
        checkpoint_every, checkpoint_seconds, spend, plan)
