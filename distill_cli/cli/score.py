"""distill score: the log-probabilities of existing traces under a model (offline vLLM)."""

from __future__ import annotations

from typing import Annotated

import typer

from distill_cli.cli import common
from distill_cli.cli.base import app
from distill_cli.cli.common import choice
from distill_cli.cli.engine_options import Checkpoints, Engine, Rendering
from distill_cli.stages.generate.config import LogprobDtype
from distill_cli.stages.score.config import Role

ENGINE, CKPT, RENDER = Engine("vLLM engine"), Checkpoints(), Rendering("Rendering (traces without gen_params)")
EXAMPLE = ("Example: distill score runs/x/traces -o runs/x/scored --model tiny --logprobs 20 "
           "| distill score runs/x/scored -o runs/x/both --model STUDENT --role student")


@app.command(epilog=EXAMPLE)
def score(
    input: Annotated[str, typer.Argument(help="Traces (prompt, completion): a stage directory, Parquet file or "
                                         "glob.", show_default=False)],
    output: common.Output,
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
    system_prompt: RENDER.SystemPrompt = None,
    prompt_template: RENDER.PromptTemplate = None,
    chat_template_kwargs: RENDER.ChatTemplateKwargs = None,
    dtype: ENGINE.Dtype = "auto",
    max_model_len: ENGINE.MaxModelLen = None,
    tensor_parallel_size: ENGINE.TensorParallelSize = 1,
    kv_cache_memory: ENGINE.KvCacheMemory = None,
    gpu_memory_utilization: ENGINE.GpuMemoryUtilization = None,
    enforce_eager: ENGINE.EnforceEager = False,
    max_num_seqs: ENGINE.MaxNumSeqs = None,
    engine_arg: ENGINE.EngineArg = None,
    checkpoint_every: CKPT.Every = 64,
    checkpoint_seconds: CKPT.Seconds = 30.0,
    shard: common.Shard = None,
    limit: common.Limit = None,
    overwrite: common.Overwrite = False,
    quiet: common.Quiet = False,
    progress_interval: common.ProgressInterval = 30.0,
    rows_per_shard: common.RowsPerShard = 256,
) -> None:
    """Score traces under a model: per trace token count, sum and mean logprob, perplexity, and the top-K."""
    from distill_cli.engines.backends import vllm_options
    from distill_cli.stages.generate.config import resolved_dtype
    from distill_cli.stages.score.config import score_config
    from distill_cli.stages.score.run import run

    cfg = score_config(model, model_name, role, logprobs, logprobs_dtype, system_prompt, prompt_template,
                       chat_template_kwargs)
    engine = vllm_options(0, resolved_dtype(dtype), tensor_parallel_size, max_model_len, gpu_memory_utilization,
                          enforce_eager, max_num_seqs, quiet, kv_cache_memory, engine_arg)
    opts = common.run_options(output, shard, limit, overwrite, 1, quiet, rows_per_shard, progress_interval)
    run(cfg, input, opts, engine, checkpoint_every, checkpoint_seconds)
