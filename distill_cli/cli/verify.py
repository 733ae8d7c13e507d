"""distill verify: check every trace's final answer (math, numeric, multiple choice, sandboxed code)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import polars as pl
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
    already_complete,
    run_options,
    shard_note,
    task_stats,
)
from distill_cli.errors import BadInput
from distill_cli.progress import console
from distill_cli.stagedir.directory import StageDir
from distill_cli.stagedir.inputs import open_input
from distill_cli.stagedir.runner import pick_runner
from distill_cli.stages.verify.config import Checker, Domain
from distill_cli.stages.verify.core import VerifyConfig
from distill_cli.stages.verify.fill import DEFAULT_MODEL, Filled, plan_fill
from distill_cli.stages.verify.scaleout import RayVerify
from distill_cli.stages.verify.shard import LazyPool, verify_shard


@app.command(epilog="Example: distill verify runs/x/traces -o runs/x/verified --workers 2 --timeout 5")
def verify(
    input: Annotated[str, typer.Argument(help="Traces: a stage directory, Parquet file or glob.", show_default=False)],
    output: Output,
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds per math/choice/text answer; a worker past it "
                                           "is killed and the row gets verdict `timeout`.")] = 5.0,
    domain: Annotated[str, typer.Option(help="auto|math|code|choice|text: auto uses each row's `domain`.")] = "auto",
    code_timeout: Annotated[float, typer.Option(min=0.1, help="Wall-clock seconds for one program over all "
                                                "of a row's tests.")] = 10.0,
    memory_mb: Annotated[int, typer.Option(min=64, help="Address-space limit of a sandboxed program (MB); a row's "
                                           "`memory_limit` column overrides it.")] = 1024,
    checker: Annotated[Checker, typer.Option(help="How stdin/stdout output is compared when the row's `checker` "
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
    if domain not in Domain.__args__:
        raise BadInput(f"--domain {domain!r}: expected one of {', '.join(Domain.__args__)}")
    opts = run_options(output, shard, limit, overwrite, workers, quiet, rows_per_shard, progress_interval)
    cfg = VerifyConfig(workers=workers, timeout=timeout, domain=domain, code_timeout=code_timeout,  # type: ignore
                       memory_mb=memory_mb, checker=checker, time_limit=time_limit,
                       stop_on_first_failure=stop_on_first_failure, consensus=consensus,
                       consensus_min_samples=consensus_min_samples, sandbox_url=sandbox_url,
                       sandbox_concurrency=sandbox_concurrency)
    inp = open_input(input)
    inp.require("verify", {"response": pl.String, "answer": pl.String, "id": pl.String})
    if domain == "code":
        inp.require("verify", {"tests": (pl.String, pl.List)}, not_null=())
    if consensus is not None:
        _require_whole_prompts(inp, opts)
    fill = plan_fill(inp.scan(opts.limit), inp.schema, list(zip(inp.files, inp.rows, strict=True)), str(inp.spec),
                     model_name or DEFAULT_MODEL, domain, drop_duplicates)
    # where the code runs does not change a verdict: a resumed run may switch --sandbox-url
    params = {k: v for k, v in asdict(cfg).items() if k not in ("workers", "batch_size", "sandbox_url",
                                                                  "sandbox_concurrency")}
    params |= ({"model_name": model_name} if model_name else {}) | ({"drop_duplicates": True} if drop_duplicates
                                                                     else {})
    runner = pick_runner(executor, ray_address)
    pool = LazyPool(cfg)
    inner = RayVerify(cfg) if executor == "ray" else (lambda df, task: verify_shard(df, task, cfg, pool))
    process = Filled(fill, inner)
    try:
        sd = runner("verify", inp, opts, params=params, process=process)
    finally:
        pool.close()
    if not quiet and not already_complete("verify", sd, output, quiet, detail=_verdicts):
        _summary(sd, opts.shard, output)


def _verdicts(stats: dict) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted((stats.get("verdicts") or {}).items()))


def _summary(sd: StageDir, shard: tuple[int, int] | None, output: Path) -> None:
    """Verdict counts of the stage, or of what this --shard task wrote while other shards are pending."""
    stats = task_stats(sd)
    counts = _verdicts(stats) or "no rows"
    done = sd.read_manifest().get("complete")
    task = shard_note(sd, shard)
    if task and not done:
        counts = f"{task}: {counts}" if sd.written else task
    elif task:
        counts = f"{task}; the stage is complete: {counts}"
    console.print(f"verify: {counts}{_notes(stats)} -> {output}{'' if done else ' (other shards pending)'}")


def _notes(stats: dict) -> str:
    """What verify filled in and dropped (stages/verify/fill.py), when it did."""
    filled = ", ".join(f"{k} {v}" for k, v in (stats.get("filled") or {}).items())
    dropped = (stats.get("dropped") or {}).get("duplicate")
    return (f"; filled {filled}" if filled else "") + (f"; dropped {dropped} duplicate rows" if dropped else "")


def _require_whole_prompts(inp, opts) -> None:
    """Consensus votes over all samples of a prompt, so no prompt may span two shards (generate writes a prompt's
    samples into one shard; re-sharding by rows, --rows-per-shard or --limit can cut them apart)."""
    from distill_cli.stages.verify.consensus import split_prompts

    inp.require("verify", {"id": pl.String})
    units = inp.units(opts.rows_per_shard, opts.limit)
    split = split_prompts([inp.read(u, ["id"]).get_column("id").to_list() for u in units])
    if split is not None:
        pid, a, b = split
        raise BadInput(f"{inp.spec}: column id: --consensus needs all samples of a prompt in one shard, but prompt "
                       f"{pid} is in shards {a} and {b} (raise --rows-per-shard, or drop --limit)")
