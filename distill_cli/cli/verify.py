"""distill verify: check every trace's final answer (math, numeric, multiple choice, sandboxed code)."""

from __future__ import annotations

from pathlib import Path
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
)
from distill_cli.stages.verify.config import Checker, Domain, VerifyConfig

JUDGE = "LLM judge"


@app.command(epilog="Example: distill verify runs/x/traces -o runs/x/verified --workers 2 --timeout 5")
def verify(
    ctx: typer.Context,
    input: Annotated[str, typer.Argument(help="Traces: a stage directory, Parquet file or glob.", show_default=False)],
    output: Output,
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds per math/choice/text answer; a worker past it "
                                           "is killed and the row gets verdict `timeout`.")] = 5.0,
    domain: Annotated[Domain, choice(Domain, "--domain", help="auto uses each row's `domain`.")
                      ] = "auto",
    code_timeout: Annotated[float, typer.Option(min=0.1, help="Wall-clock seconds for one program over all "
                                                "of a row's tests.")] = 10.0,
    memory_mb: Annotated[int, typer.Option(min=64, help="Address-space limit of a sandboxed program (MB); a row's "
                                           "`memory_limit` column overrides it.")] = 1024,
    checker: Annotated[Checker, choice(Checker, "--checker", help="How stdin/stdout output is compared "
                                             "when the row's `checker` "
                                             "column names none: tokens (whitespace-insensitive), exact, float "
                                             "(abs/rel 1e-6), lines-unordered.")] = "tokens",
    time_limit: Annotated[float | None, typer.Option(min=0.01, help="CPU seconds per test when the row has no "
                                                     "`time_limit` column (default: --code-timeout per row).")] = None,
    stop_on_first_failure: Annotated[bool, typer.Option("--stop-on-first-failure", help="Skip a program's "
                                                        "remaining tests after its first failed test.")] = False,
    consensus: Annotated[float | None, typer.Option(min=0.01, max=1.0, help="Label prompts without a reference "
                                                    "answer by their samples' consensus: the largest cluster of "
                                                    "equivalent answers must hold this share of the samples.")] = None,
    consensus_min_samples: Annotated[int, typer.Option(min=1, help="...and at least this many samples.")] = 4,
    sandbox_url: Annotated[str | None, typer.Option(help="Run code on a SandboxFusion-compatible service "
                                                    "(POST URL/run_code) instead of this machine.")] = None,
    sandbox_concurrency: Annotated[int, typer.Option(min=1, help="Requests in flight per worker with "
                                                     "--sandbox-url.")] = 4,
    model_name: Annotated[str | None, typer.Option(help="`model` of rows that have none [default: unknown].",
                                                      show_default=False)] = None,
    drop_duplicates: Annotated[bool, typer.Option(
        "--drop-duplicates", help="Keep the first of identical rows under one (id, model, sample) key instead of "
        "stopping; rows that differ under one key still stop the run.")] = False,
    judge: Annotated[str | None, typer.Option(help="LLM judge for the rows the checkers cannot decide: a model "
                                              "for the offline vLLM engine (`tiny`: the bundled one), or with "
                                              "--judge-url a served model name.", rich_help_panel=JUDGE)] = None,
    judge_url: Annotated[str | None, typer.Option(help="Ask the judge on an OpenAI-compatible server (its /v1 "
                                                  "URL) instead of an engine here.", rich_help_panel=JUDGE)] = None,
    judge_api_key: Annotated[str | None, typer.Option(envvar="OPENAI_API_KEY", show_default=False,
                                                      rich_help_panel=JUDGE)] = None,
    judge_when: Annotated[str, typer.Option(help="fallback (rows left unverifiable or without a parsable answer) | "
                                            "always | domain:math|choice|text.", rich_help_panel=JUDGE)] = "fallback",
    judge_prompt: Annotated[Path | None, typer.Option(help="Prompt template with {problem} {reference} {answer} "
                                                      "{trace} [default: distill_cli/templates/judge.txt].",
                                                      show_default=False, rich_help_panel=JUDGE)] = None,
    judge_trace: Annotated[bool, typer.Option("--judge-trace", help="Show the judge the whole response, not only "
                                              "the final answer.", rich_help_panel=JUDGE)] = False,
    judge_max_tokens: Annotated[int, typer.Option(min=1, rich_help_panel=JUDGE)] = 512,
    judge_concurrency: Annotated[int, typer.Option(min=1, help="--judge-url: requests in flight.",
                                                   rich_help_panel=JUDGE)] = 16,
    judge_checkpoint_every: Annotated[int, typer.Option(min=1, help="Save the judge's replies every N.",
                                                        rich_help_panel=JUDGE)] = 16,
    judge_dtype: Annotated[str, typer.Option(help="Offline judge engine (not with --judge-url): auto (float32 on "
                                             "CPU), float32, bfloat16, float16.", rich_help_panel=JUDGE)] = "auto",
    judge_max_model_len: Annotated[int | None, typer.Option(min=16, help="Its context length.",
                                                            rich_help_panel=JUDGE)] = None,
    judge_kv_cache_memory: Annotated[str | None, typer.Option(help="Its KV-cache size: 1GiB, 512MiB or bytes "
                                                              "(default: sized as generate sizes it).",
                                                              show_default=False, rich_help_panel=JUDGE)] = None,
    judge_engine_arg: Annotated[list[str] | None, typer.Option(help="KEY=VALUE passed to its vllm.LLM, as "
                                                               "generate's --engine-arg; repeat for more.",
                                                               show_default=False, rich_help_panel=JUDGE)] = None,
    shard: Shard = None,
    limit: Limit = None,
    overwrite: Overwrite = False,
    workers: Workers = 1,
    quiet: Quiet = False,
    progress_interval: ProgressInterval = 30.0,
    rows_per_shard: RowsPerShard = 100_000,
    executor: Executor = "local",
    ray_address: RayAddress = None,
) -> None:
    """Verify each trace's final answer: math (math-verify, numeric), multiple choice, code in a sandbox."""
    cfg = VerifyConfig(workers=workers, timeout=timeout, domain=domain, code_timeout=code_timeout,
                       memory_mb=memory_mb, checker=checker, time_limit=time_limit,
                       stop_on_first_failure=stop_on_first_failure, consensus=consensus,
                       consensus_min_samples=consensus_min_samples, sandbox_url=sandbox_url,
                       sandbox_concurrency=sandbox_concurrency)
    judging = _judge(ctx, quiet, **{k: v for k, v in locals().items() if k.startswith("judge")})
    from distill_cli.stages.verify.run import run

    run(input, cfg, run_options(output, shard, limit, overwrite, workers, quiet, rows_per_shard, progress_interval),
        model_name, drop_duplicates, executor, ray_address, judging)


def _judge(ctx, quiet, judge, judge_url, judge_api_key, judge_when, judge_prompt, judge_trace, judge_max_tokens,
           judge_concurrency, judge_checkpoint_every, judge_dtype, judge_max_model_len, judge_kv_cache_memory,
           judge_engine_arg):
    """The judge the options ask for, checked before any work (None without --judge, and then no --judge-* option
    may be given: it would do nothing). An offline engine's options are checked as generate checks its own."""
    readers = {name: ("--judge",) for name in ("judge_url", "judge_when", "judge_prompt", "judge_trace",
                                               "judge_max_tokens", "judge_checkpoint_every")}
    refuse_unused(ctx, readers, ("--judge",) if judge else (), "")
    refuse_unused(ctx, {"judge_concurrency": ("--judge-url",)}, ("--judge-url",) if judge_url else (), "")
    offline = "--judge without --judge-url"
    refuse_unused(ctx, {n: (offline,) for n in ENGINE_OPTIONS}, (offline,) if judge and not judge_url else
                  ("--judge-url",) if judge_url else (), "")
    if not judge:
        return None
    from distill_cli.stages.verify.judge import JudgeConfig, check_when, read_template
    from distill_cli.stages.verify.judge_run import JudgeSetup

    engine, kv_bytes = {}, None
    if not judge_url:
        engine, kv_bytes = _judge_engine(judge, judge_dtype, judge_max_model_len, judge_kv_cache_memory,
                                         judge_engine_arg)
    cfg = JudgeConfig(model=judge, template=read_template(judge_prompt), when=check_when(judge_when),
                      with_trace=judge_trace, max_tokens=judge_max_tokens, checkpoint_every=judge_checkpoint_every,
                      engine=engine)
    return JudgeSetup(cfg, judge_url, judge_api_key, judge_concurrency, quiet, kv_bytes)


ENGINE_OPTIONS = ("judge_dtype", "judge_max_model_len", "judge_kv_cache_memory", "judge_engine_arg")
# vllm.LLM arguments the judge has an option for (the others it passes through --judge-engine-arg)
JUDGE_OWN = {"model": "--judge", "dtype": "--judge-dtype", "max_model_len": "--judge-max-model-len",
             "kv_cache_memory_bytes": "--judge-kv-cache-memory"}


def _judge_engine(model, dtype, max_model_len, kv_cache_memory, engine_arg) -> tuple[dict, int | None]:
    """The offline judge engine's recorded options and KV-cache bytes, parsed and checked by generate's code."""
    from distill_cli.engines.backends import check_model_path
    from distill_cli.engines.engine_args import check_engine_args, parse_engine_args
    from distill_cli.engines.memory import parse_size
    from distill_cli.stages.generate.config import resolved_dtype

    check_model_path(model)
    args = parse_engine_args(engine_arg, "--judge-engine-arg", JUDGE_OWN)
    check_engine_args(args, option="--judge-engine-arg")
    kv_bytes = parse_size(kv_cache_memory, "--judge-kv-cache-memory") if kv_cache_memory is not None else None
    engine = {"dtype": resolved_dtype(dtype), "max_model_len": max_model_len, "engine_args": args or None}
    return {k: v for k, v in engine.items() if v is not None}, kv_bytes
