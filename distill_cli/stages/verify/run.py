"""verify's glue: open the traces, fill what they lack, run the verifier over every shard (locally or as Ray
tasks), and print the verdict counts. The options are parsed by cli/verify.py; the checks are in core.py."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import polars as pl

from distill_cli.errors import BadInput
from distill_cli.progress import console
from distill_cli.stagedir.directory import StageDir
from distill_cli.stagedir.inputs import open_input
from distill_cli.stagedir.messages import already_complete, shard_note, task_stats
from distill_cli.stagedir.runner import RunOptions, executor_for, run_map
from distill_cli.stages.verify.config import VerifyConfig
from distill_cli.stages.verify.fill import DEFAULT_MODEL, Filled, plan_fill
from distill_cli.stages.verify.judge_run import Judge, JudgeSetup
from distill_cli.stages.verify.scaleout import RayVerify
from distill_cli.stages.verify.shard import LazyPool, verify_shard


def run(input: str, cfg: VerifyConfig, opts: RunOptions, model_name: str | None = None,
        drop_duplicates: bool = False, executor: str = "local", ray_address: str | None = None,
        judge: JudgeSetup | None = None) -> StageDir:
    """Verify every trace of `input` into `opts.out`; returns the stage directory. With `judge`, an LLM judge then
    decides the rows its `when` selects (judge_run.py): here, or in each Ray task with `executor` ray."""
    domain, output, quiet = cfg.domain, opts.out, opts.quiet
    inp = open_input(input)
    inp.require("verify", {"response": pl.String, "answer": pl.String, "id": pl.String})
    if domain == "code":
        inp.require("verify", {"tests": (pl.String, pl.List)}, not_null=())
    if cfg.consensus is not None:
        _require_whole_prompts(inp, opts)
    fill = plan_fill(inp.scan(opts.limit), inp.schema, list(zip(inp.files, inp.rows, strict=True)), str(inp.spec),
                     model_name or DEFAULT_MODEL, domain, drop_duplicates)
    # where the code runs does not change a verdict: a resumed run may switch --sandbox-url
    params = {k: v for k, v in asdict(cfg).items() if k not in ("workers", "batch_size", "sandbox_url",
                                                                  "sandbox_concurrency")}
    params |= ({"model_name": model_name} if model_name else {}) | ({"drop_duplicates": True} if drop_duplicates
                                                                     else {})
    params |= {"judge": judge.cfg.params()} if judge else {}
    runs_on = executor_for(executor, ray_address, opts.workers, **(judge.task_options(opts.workers) if judge else {}))
    pool = LazyPool(cfg)
    lazy = judge.lazy_backend() if judge and executor != "ray" else None  # started at the first row to ask about
    asker = Judge(judge.cfg, lazy.get) if judge and lazy else None
    inner = RayVerify(cfg, judge) if executor == "ray" else (lambda df, task: verify_shard(df, task, cfg, pool,
                                                                                           judge=asker))
    process = Filled(fill, inner)
    try:
        sd = run_map("verify", inp, opts, params=params, process=process, executor=runs_on)
    finally:
        pool.close()
        if lazy is not None:
            lazy.close()
    if not quiet and not already_complete("verify", sd, output, quiet, detail=_verdicts):
        _summary(sd, opts.shard, output)
    return sd


def _verdicts(stats: dict) -> str:
    counts = ", ".join(f"{k} {v}" for k, v in sorted((stats.get("verdicts") or {}).items()))
    judged = stats.get("judge")
    if judged:
        said = ", ".join(f"{k} {v}" for k, v in sorted((judged.get("verdicts") or {}).items())) or "nothing asked"
        counts += f"; judge: {said} ({judged.get('asked', 0)} asked, {judged.get('resumed', 0)} resumed)"
    return counts


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
