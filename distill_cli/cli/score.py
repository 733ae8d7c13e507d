"""distill score: the log-probabilities of existing traces under a model (offline vLLM)."""

from __future__ import annotations

from typing import Annotated

import typer

from distill_cli.cli.base import app
from distill_cli.cli.common import (
    Limit,
    Output,
    Overwrite,
    ProgressInterval,
    Quiet,
    RowsPerShard,
    Shard,
    choice,
    run_options,
)
from distill_cli.stages.generate.config import LogprobDtype
from distill_cli.stages.score.config import Role

ENGINE, CKPT, RENDER = "vLLM engine", "Checkpoints", "Rendering (traces without gen_params)"
EXAMPLE = ("Example: distill score runs/x/traces -o runs/x/scored --model tiny --logprobs 20 "
           "| distill score runs/x/scored -o runs/x/both --model STUDENT --role student")


@app.command(epilog=EXAMPLE)
def score(
    input: Annotated[str, typer.Argument(help="Traces (prompt, completion): a stage directory, Parquet file or "
                                         "glob.", show_default=False)],
    output: Output,
    model: Annotated[str, typer.Option("--model", "-m", help="Model path or hub name; 'tiny' = the bundled "
                                       "SmolLM2-135M-Instruct.", show_default=False)],
    role: Annotated[Role, choice(Role, "--role", help="Names the columns written (teacher_logprobs, "
                                 "student_perplexity, ...); with both, `divergence`.")] = "teacher",
    logprobs: Annotated[int | None, typer.Option(
        "--logprobs", min=0, help="Also keep the model's top-K per completion token (<role>_topk_ids, "
        "<role>_topk_logprobs).", show_default=False)] = None,
    logprobs_dtype: Annotated[LogprobDtype, choice(LogprobDtype, "--logprobs-dtype",
                                                   help="How <role>_topk_logprobs is stored.")] = "float32",
    model_name: Annotated[str | None, typer.Option(help="Name recorded in <role>_model (default: derived from "
                                                      "--model).")] = None,
    system_prompt: Annotated[str | None, typer.Option(rich_help_panel=RENDER)] = None,
    prompt_template: Annotated[str | None, typer.Option(help="User message with {prompt} in it.",
                                                           rich_help_panel=RENDER)] = None,
    chat_template_kwargs: Annotated[str | None, typer.Option(help="JSON passed to the chat template.",
                                                                rich_help_panel=RENDER)] = None,
    dtype: Annotated[str, typer.Option(help="auto (float32 on CPU), float32, bfloat16, float16.",
                                       rich_help_panel=ENGINE)] = "auto",
    max_model_len: Annotated[int | None, typer.Option(min=16, help="Context length; longer traces are left "
                                                         "unscored (counted as errors).", rich_help_panel=ENGINE)
                             ] = None,
    tensor_parallel_size: Annotated[int, typer.Option(min=1, rich_help_panel=ENGINE)] = 1,
    kv_cache_memory: Annotated[str | None, typer.Option(help="KV-cache size: 1GiB, 512MiB or bytes.",
                                                           show_default=False, rich_help_panel=ENGINE)] = None,
    gpu_memory_utilization: Annotated[float | None, typer.Option(min=0.001, max=1.0, rich_help_panel=ENGINE)
                                      ] = None,
    enforce_eager: Annotated[bool, typer.Option(help="No CUDA graphs / compilation: faster start.",
                                                rich_help_panel=ENGINE)] = False,
    max_num_seqs: Annotated[int | None, typer.Option(min=1, rich_help_panel=ENGINE)] = None,
    engine_arg: Annotated[list[str] | None, typer.Option(
        "--engine-arg", help="KEY=VALUE passed to vllm.LLM verbatim.", show_default=False,
        rich_help_panel=ENGINE)] = None,
    checkpoint_every: Annotated[int, typer.Option(min=1, help="Save scored traces every N ...",
                                                  rich_help_panel=CKPT)] = 64,
    checkpoint_seconds: Annotated[float, typer.Option(min=0.0, help="... or every S seconds.",
                                                      rich_help_panel=CKPT)] = 30.0,
    shard: Shard = None,
    limit: Limit = None,
    overwrite: Overwrite = False,
    quiet: Quiet = False,
    progress_interval: ProgressInterval = 30.0,
    rows_per_shard: RowsPerShard = 256,
) -> None:
    """Score traces under a model: per trace token count, sum and mean logprob, perplexity, and the top-K."""
    from distill_cli.engines.backends import check_model_path, default_model_name
    from distill_cli.engines.engine_args import check_engine_args, parse_engine_args
    from distill_cli.engines.memory import parse_size
    from distill_cli.engines.render import check_template, parse_template_kwargs
    from distill_cli.stages.generate.config import resolved_dtype
    from distill_cli.stages.score.config import ScoreConfig
    from distill_cli.stages.score.run import run

    check_template(prompt_template)
    check_model_path(model)
    args = parse_engine_args(engine_arg)
    check_engine_args(args)
    cfg = ScoreConfig(model=model, model_name=model_name or default_model_name(model), role=role,
                      logprobs=logprobs, logprobs_dtype=logprobs_dtype, system_prompt=system_prompt,
                      prompt_template=prompt_template, chat_template_kwargs=parse_template_kwargs(chat_template_kwargs))
    opts = run_options(output, shard, limit, overwrite, 1, quiet, rows_per_shard, progress_interval)
    engine = {"seed": 0, "dtype": resolved_dtype(dtype), "tensor_parallel_size": tensor_parallel_size,
              "max_model_len": max_model_len, "gpu_memory_utilization": gpu_memory_utilization,
              "enforce_eager": enforce_eager, "max_num_seqs": max_num_seqs, "quiet": quiet,
              "kv_cache_memory": parse_size(kv_cache_memory) if kv_cache_memory else None, "engine_args": args}
    run(cfg, input, opts, engine, checkpoint_every, checkpoint_seconds)
