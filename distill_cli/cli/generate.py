"""distill generate: a prompts stage directory in, teacher traces out (offline vLLM or an OpenAI-compatible server)."""

from __future__ import annotations

from typing import Annotated

import typer

from distill_cli.cli import common
from distill_cli.cli.base import app
from distill_cli.cli.common import choice, opt
from distill_cli.cli.cost_options import Below, DryRun, MaxCost, MeanCompletion, OnlyUnsolved, Pilot, Price, PriceTable
from distill_cli.cli.engine_options import Checkpoints, Engine, Rendering
from distill_cli.engines.types import Sampling
from distill_cli.stages.generate.config import READERS, BackendName, LogprobDtype

SAMPLING, HTTP = "Sampling", "Server (--backend openai)"
BATCH = "Batch APIs (--backend openai-batch | anthropic-batch)"
ENGINE, RENDER, CKPT = Engine("vLLM engine (--backend vllm)"), Rendering(SAMPLING), Checkpoints()
EXAMPLE = ("Example: distill generate runs/x/prompts -o runs/x/traces --model tiny -n 4 --max-tokens 512 "
           "--prompt-template '{prompt} Put your final answer within \\boxed{}.'")


@app.command(epilog=EXAMPLE)
def generate(
    ctx: typer.Context,
    input: Annotated[str, typer.Argument(help="Prompts stage directory (or Parquet file/glob with id, prompt).",
                                         show_default=False)],
    output: common.Output,
    model: Annotated[str, typer.Option("--model", "-m", help="Model path or hub name for vLLM, served model name "
                                       "for openai; 'tiny' = the bundled SmolLM2-135M-Instruct.", show_default=False)],
    backend: Annotated[BackendName, choice(BackendName, "--backend", help="vllm (offline engine) | openai (any "
                                           "OpenAI-compatible server) | openai-batch | anthropic-batch (the "
                                           "providers' batch APIs, half price).")] = "vllm",
    n: Annotated[int, typer.Option("-n", "--samples", min=1, help="Samples per prompt.")] = 8,
    model_name: Annotated[str | None, typer.Option(help="Name recorded in the `model` column (default: derived "
                                                   "from --model).")] = None,
    temperature: Annotated[float, opt(SAMPLING, min=0.0)] = 0.6,
    top_p: Annotated[float, opt(SAMPLING, min=0.0, max=1.0)] = 0.95,
    top_k: Annotated[int, opt(SAMPLING, min=-1, help="-1: off.")] = -1,
    max_tokens: Annotated[int, opt(SAMPLING, min=1, help="Completion token budget per sample.")] = 4096,
    seed: Annotated[int | None, opt(SAMPLING, help="vllm: the engine seed (default 0); openai: sent per "
                                    "request.")] = None,
    system_prompt: RENDER.SystemPrompt = None,
    prompt_template: RENDER.PromptTemplate = None,
    chat_template_kwargs: RENDER.ChatTemplateKwargs = None,
    logprobs: Annotated[int | None, opt(SAMPLING, min=0, show_default=False, help="Keep each completion token's "
                                        "id and logprob and the model's top-K (token_ids, token_logprobs, "
                                         "topk_ids, topk_logprobs; 0: no top-K).")] = None,
    logprobs_dtype: Annotated[LogprobDtype, choice(LogprobDtype, "--logprobs-dtype", help="How topk_logprobs is "
                                                   "stored.", rich_help_panel=SAMPLING)] = "float32",
    dtype: ENGINE.Dtype = "auto",
    max_model_len: ENGINE.MaxModelLen = None,
    tensor_parallel_size: ENGINE.TensorParallelSize = 1,
    kv_cache_memory: ENGINE.KvCacheMemory = None,
    gpu_memory_utilization: ENGINE.GpuMemoryUtilization = None,
    enforce_eager: ENGINE.EnforceEager = False,
    max_num_seqs: ENGINE.MaxNumSeqs = None,
    engine_arg: ENGINE.EngineArg = None,
    data_parallel_size: Annotated[int, opt(ENGINE.panel, min=1, help="Engine replicas on this node, each a "
                                           "process with its own engine doing its share of the shards (GPUs: "
                                            "tensor-parallel-size each).")] = 1,
    base_url: Annotated[str | None, opt(HTTP, show_default=False, help="Server URL (openai: "
                                        "http://127.0.0.1:8000/v1; openai-batch: env OPENAI_BASE_URL, else "
                                         "https://api.openai.com/v1; anthropic-batch: env ANTHROPIC_BASE_URL, "
                                         "else https://api.anthropic.com/v1).")] = None,
    api_key: Annotated[str | None, opt(HTTP, show_default=False, help="API key (openai: env DISTILL_API_KEY, "
                                       "then OPENAI_API_KEY; openai-batch: OPENAI_API_KEY; anthropic-batch: "
                                        "ANTHROPIC_API_KEY).")] = None,
    concurrency: Annotated[int, opt(HTTP, min=1, help="Requests in flight.")] = 64,
    request_timeout: Annotated[float, opt(HTTP, min=1.0, help="Seconds per request.")] = 600.0,
    max_retries: Annotated[int, opt(HTTP, min=0)] = 5,
    batch_max_requests: Annotated[int | None, opt(BATCH, min=1, show_default=False, help="Requests per batch "
                                                  "(openai-batch: 50000; anthropic-batch: 100000).")] = None,
    batch_max_bytes: Annotated[int | None, opt(BATCH, min=1024, show_default=False, help="Bytes per batch "
                                               "(openai-batch: 200000000; anthropic-batch: 256000000).")] = None,
    poll_interval: Annotated[float, opt(BATCH, min=0.0, help="Seconds between polls of a submitted batch.")
                             ] = 30.0,
    checkpoint_every: CKPT.Every = 64,
    checkpoint_seconds: CKPT.Seconds = 30.0,
    shard: common.Shard = None,
    limit: common.Limit = None,
    overwrite: common.Overwrite = False,
    workers: common.Workers = 1,
    quiet: common.Quiet = False,
    progress_interval: common.ProgressInterval = 30.0,
    rows_per_shard: common.RowsPerShard = 10_000,
    executor: common.Executor = "local",
    ray_address: common.RayAddress = None,
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
    from distill_cli.engines.backends import factory
    from distill_cli.stages.generate.config import check_logprobs, engine_options, generate_config, with_max_logprobs
    from distill_cli.stages.generate.run import run
    from distill_cli.stages.generate.spend import prepare

    common.refuse_unused(ctx, READERS, (backend,), "--backend")
    given = common.typed(ctx)
    rows_per_shard = check_logprobs(backend, logprobs, "logprobs_dtype" in given, rows_per_shard,
                                    "rows_per_shard" in given)
    opts = common.run_options(output, shard, limit, overwrite, workers, quiet, rows_per_shard, progress_interval)
    engine_args, kv_bytes = engine_options(backend, engine_arg, kv_cache_memory, data_parallel_size, executor)
    cfg = generate_config(model, model_name, backend, n, Sampling(temperature, top_p, top_k, max_tokens, seed,
                          logprobs), system_prompt, prompt_template, chat_template_kwargs, logprobs_dtype, dtype,
                          max_model_len, engine_args)
    make_backend = factory(backend, model, vllm=dict(
        seed=cfg.sampling.seed, dtype=dtype, tensor_parallel_size=tensor_parallel_size, max_model_len=max_model_len,
        gpu_memory_utilization=gpu_memory_utilization, enforce_eager=enforce_eager, max_num_seqs=max_num_seqs,
        quiet=quiet, kv_cache_memory=kv_bytes, engine_args=with_max_logprobs(logprobs, engine_args),
        replicas=data_parallel_size), server=dict(base_url=base_url, api_key=api_key, concurrency=concurrency,
        timeout=request_timeout, max_retries=max_retries), batch=dict(base_url=base_url, api_key=api_key,
        max_requests=batch_max_requests, max_bytes=batch_max_bytes, poll_interval=poll_interval))
    spend = prepare(model, backend, price, price_table, max_cost, dry_run, pilot, mean_completion_tokens,
                    only_unsolved, below, parallel=executor == "ray" or data_parallel_size > 1)
    plan = (pilot, mean_completion_tokens, concurrency if backend == "openai" else 1) if dry_run else None
    run(input, cfg, opts, make_backend, executor, ray_address, data_parallel_size, tensor_parallel_size,
        checkpoint_every, checkpoint_seconds, spend, plan)
