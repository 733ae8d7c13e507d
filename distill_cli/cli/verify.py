"""distill verify: check every trace's final answer (math, numeric, multiple choice, sandboxed code)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from distill_cli.cli import common
from distill_cli.cli.base import app
from distill_cli.cli.common import choice, opt
from distill_cli.stages.verify.config import (
    ENGINE_READERS,
    JUDGE_READERS,
    OFFLINE,
    SERVER_READERS,
    Checker,
    Domain,
    VerifyConfig,
)

JUDGE = "LLM judge"


@app.command(epilog="Example: distill verify runs/x/traces -o runs/x/verified --workers 2 --timeout 5")
def verify(
    ctx: typer.Context,
    input: Annotated[str, typer.Argument(help="Traces: a stage directory, Parquet file or glob.", show_default=False)],
    output: common.Output,
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
    judge: Annotated[str | None, opt(JUDGE, help="LLM judge for the rows the checkers cannot decide: a model for "
                                     "the offline vLLM engine (`tiny`: the bundled one), or with --judge-url a "
                                     "served model name.")] = None,
    judge_url: Annotated[str | None, opt(JUDGE, help="Ask the judge on an OpenAI-compatible server (its /v1 URL) "
                                         "instead of an engine here.")] = None,
    judge_api_key: Annotated[str | None, opt(JUDGE, envvar="OPENAI_API_KEY", show_default=False)] = None,
    judge_when: Annotated[str, opt(JUDGE, help="fallback (rows left unverifiable or without a parsable answer) | "
                                   "always | domain:math|choice|text.")] = "fallback",
    judge_prompt: Annotated[Path | None, opt(JUDGE, help="Prompt template with {problem} {reference} {answer} "
                                             "{trace} [default: distill_cli/templates/judge.txt].")] = None,
    judge_trace: Annotated[bool, opt(JUDGE, "--judge-trace", help="Show the judge the whole response, not only the "
                                     "final answer.")] = False,
    judge_max_tokens: Annotated[int, opt(JUDGE, min=1)] = 512,
    judge_concurrency: Annotated[int, opt(JUDGE, min=1, help="--judge-url: requests in flight.")] = 16,
    judge_checkpoint_every: Annotated[int, opt(JUDGE, min=1, help="Save the judge's replies every N.")] = 16,
    judge_dtype: Annotated[str, opt(JUDGE, help="Offline judge engine (not with --judge-url): auto (float32 on "
                                    "CPU), float32, bfloat16, float16.")] = "auto",
    judge_max_model_len: Annotated[int | None, opt(JUDGE, min=16, help="Its context length.")] = None,
    judge_kv_cache_memory: Annotated[str | None, opt(JUDGE, help="Its KV-cache size: 1GiB, 512MiB or bytes "
                                                     "(default: sized as generate sizes it).")] = None,
    judge_engine_arg: Annotated[list[str] | None, opt(JUDGE, help="KEY=VALUE passed to its vllm.LLM, as generate's "
                                                      "--engine-arg; repeat for more.", show_default=False)] = None,
    shard: common.Shard = None,
    limit: common.Limit = None,
    overwrite: common.Overwrite = False,
    workers: common.Workers = 1,
    quiet: common.Quiet = False,
    progress_interval: common.ProgressInterval = 30.0,
    rows_per_shard: common.RowsPerShard = 100_000,
    executor: common.Executor = "local",
    ray_address: common.RayAddress = None,
) -> None:
    """Verify each trace's final answer: math (math-verify, numeric), multiple choice, code in a sandbox."""
    judge_options = {k: v for k, v in locals().items() if k.startswith("judge")}
    from distill_cli.stages.verify.judge_run import judge_setup
    from distill_cli.stages.verify.run import run

    cfg = VerifyConfig(workers=workers, timeout=timeout, domain=domain, code_timeout=code_timeout,
                       memory_mb=memory_mb, checker=checker, time_limit=time_limit,
                       stop_on_first_failure=stop_on_first_failure, consensus=consensus,
                       consensus_min_samples=consensus_min_samples, sandbox_url=sandbox_url,
                       sandbox_concurrency=sandbox_concurrency)
    common.refuse_unused(ctx, JUDGE_READERS, ("--judge",) if judge else (), "")
    common.refuse_unused(ctx, SERVER_READERS, ("--judge-url",) if judge_url else (), "")
    common.refuse_unused(ctx, ENGINE_READERS, (OFFLINE,) if judge and not judge_url else ("--judge-url",) if judge_url
                         else (), "")
    judging = judge_setup(quiet, **judge_options)
    opts = common.run_options(output, shard, limit, overwrite, workers, quiet, rows_per_shard, progress_interval)
    run(input, cfg, opts, model_name, drop_duplicates, executor, ray_address, judging)
