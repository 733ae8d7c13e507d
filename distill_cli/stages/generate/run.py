"""generate's glue: open the prompts, run the teacher over every shard (here, as Ray tasks, or dealt out to
--data-parallel-size engine replicas), and print tokens and rates. Options: cli/generate.py."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl

from distill_cli.engines.backends import BATCH_BACKENDS, LazyBackend
from distill_cli.engines.pricing import resolve
from distill_cli.engines.types import Backend
from distill_cli.stagedir.directory import StageDir
from distill_cli.stagedir.inputs import open_input
from distill_cli.stagedir.messages import already_complete, shard_note
from distill_cli.stagedir.runner import RunOptions, executor_for, run_map
from distill_cli.stages.generate.core import GenerateConfig
from distill_cli.stages.generate.scaleout import RayGenerate
from distill_cli.stages.generate.spend import Spend


def run(input: str, cfg: GenerateConfig, opts: RunOptions, make_backend: Callable[[], Backend],
        executor: str = "local", ray_address: str | None = None, data_parallel_size: int = 1,
        tensor_parallel_size: int = 1, checkpoint_every: int = 64, checkpoint_seconds: float = 30.0,
        spend: Spend | None = None, plan: tuple[int, float | None, int] | None = None) -> StageDir | None:
    """Generate `cfg.n` samples per prompt of `input` into `opts.out`; returns the stage directory.

    `spend` carries the price, the --max-cost budget and the --only-unsolved prompts (stages/generate/spend.py);
    `plan` = (pilot, mean completion tokens, concurrency) prints the plan of this run instead (--dry-run) and
    writes nothing.
    """
    from distill_cli.stages.generate.shard import generate_shard

    output, quiet, backend = opts.out, opts.quiet, cfg.backend
    spend = spend if spend is not None else Spend(resolve(cfg.model, backend))
    inp = open_input(input)
    inp.require("generate", {"id": pl.String, "prompt": pl.String})
    if plan is not None:
        from distill_cli.stages.plan.run import emit, plan_generate

        emit(plan_generate("generate", inp, cfg, make_backend, spend.priced, plan[0], plan[1], opts.limit,
                           plan[2], spend.only))
        return None
    params = {"generate": _params(cfg) | ({"only_unsolved": spend.only_params} if spend.only_params else {})}
    shard_stats: list[dict] = []
    if executor == "ray" or data_parallel_size > 1:  # engines in other processes: read their stats back
        sd = _run_elsewhere(executor, ray_address, data_parallel_size, tensor_parallel_size, backend, inp, opts,
                            params, cfg, make_backend, checkpoint_every, checkpoint_seconds)
        shard_stats = [sd.shard_stats(i) for i in range(sd.n_shards) if sd.done(i)]
    else:
        executor_for(executor, ray_address)  # validates the options
        lazy = LazyBackend(make_backend)

        def process(df, task):
            if spend.budget is not None and not shard_stats:
                spend.budget.count_shards(output)  # whole shards of earlier runs count toward --max-cost
            if spend.only is not None:
                df = df.filter(pl.col("id").is_in(list(spend.only)))
            out, stats = generate_shard(df, task, cfg, lazy.get, checkpoint_every, checkpoint_seconds, spend.budget)
            shard_stats.append(stats)
            return out, stats

        try:
            threads = opts.workers if backend in BATCH_BACKENDS else 1  # shards' batches submitted and awaited at once
            sd = run_map("generate", inp, opts, params=params, process=process, threads=threads)
        finally:
            lazy.close()
    complete = _finish_rates(sd, spend, cfg.sampling.logprobs)
    if not quiet and not already_complete("generate", sd, output, quiet,
                                          detail=lambda stats: "sent 0 requests"):
        _summary(shard_stats, output, complete, shard_note(sd, opts.shard), sd.read_manifest())
    return sd


def _run_elsewhere(executor, ray_address, replicas, tensor_parallel_size, backend, inp, opts, params, cfg,
                   make_backend, every, seconds) -> StageDir:
    """Shards as Ray tasks (each builds its own engine), or dealt out to --data-parallel-size replicas."""
    if replicas > 1:
        from distill_cli.engines.replicas import replica_envs, run_replicas, visible_devices
        from distill_cli.stages.generate.scaleout import ReplicaGenerate

        envs = replica_envs(replicas, tensor_parallel_size, visible_devices())
        return run_replicas(replicas, "generate", inp, opts, params, ReplicaGenerate(cfg, make_backend, every,
                                                                                     seconds), envs)
    runs_on = executor_for(executor, ray_address, opts.workers,
                           **({"num_gpus": tensor_parallel_size} if backend == "vllm" else {}))
    return run_map("generate", inp, opts, params=params, process=RayGenerate(cfg, make_backend, every, seconds),
                   executor=runs_on)


def _params(cfg: GenerateConfig) -> dict:
    """What changes the output; --concurrency, --workers, --data-parallel-size, memory (--kv-cache-memory and the
    size distill picks; recorded in the stats instead) and batching options do not. `engine.engine_args` is there
    only when --engine-arg is given, so runs made before that option resume as they were."""
    return {"model": cfg.model, "model_name": cfg.model_name, "backend": cfg.backend, "n": cfg.n,
            "sampling": cfg.sampling.fields(), "system_prompt": cfg.system_prompt,
            "prompt_template": cfg.prompt_template, "chat_template_kwargs": cfg.chat_template_kwargs,
            "engine": cfg.engine,
            **({"logprobs_dtype": cfg.logprobs_dtype} if cfg.sampling.logprobs is not None else {})}


def _finish_rates(sd: StageDir, spend: Spend, logprobs: int | None = None) -> bool:
    """Rates and costs are not sums: tokens/s and the cost of the whole stage, once every shard is there; with
    --logprobs, the on-disk bytes per completion token of the logprob columns."""
    manifest = sd.read_manifest()
    if not manifest.get("complete"):
        return False
    stats = manifest.get("stats", {})
    gen = stats.get("generated", {})
    secs = gen.get("seconds") or 0
    rate = round(gen.get("completion_tokens", 0) / secs, 1) if secs else None
    extra: dict = {"tokens_per_s": rate, "cost": spend.stage_cost(stats.get("tokens", {}))}
    if logprobs is not None:
        from distill_cli.engines.logprobs import size_stats

        tokens = (stats.get("tokens") or {}).get("completion", 0)
        extra["logprobs"] = {"k": logprobs, **size_stats([sd.shard_path(i) for i in range(sd.n_shards)], tokens)}
    sd.finish(extra)
    return True


def _summary(stats: list[dict], output: Path, complete: bool, task: str, manifest: dict) -> None:
    from distill_cli.progress import console

    samples = sum(s["generated"]["samples"] for s in stats)
    toks = sum(s["generated"]["completion_tokens"] for s in stats)
    secs = sum(s["generated"]["seconds"] for s in stats)
    reasons: dict = {}
    for s in stats:
        for k, v in s["finish_reasons"].items():
            reasons[k] = reasons.get(k, 0) + v
    rate = f" at {toks / secs:.0f} tok/s" if secs else ""
    state = "" if complete else " (other shards pending)"
    console.print(f"generate: {f'{task}: ' if task else ''}{samples} new samples, {toks} completion tokens{rate}; sent "
                  f"{sum(s['requests_sent'] for s in stats)} requests, resumed {sum(s['resumed'] for s in stats)}; "
                  f"finish {reasons or 'n/a'} -> {output}{state}{_cost_note(manifest)}")


def _cost_note(manifest: dict) -> str:
    cost = manifest.get("stats", {}).get("cost") if manifest.get("complete") else None
    if not cost:
        return ""
    return f"; stage cost ${cost['usd']:.4f}" if cost.get("usd") is not None else "; cost not known (no price)"
