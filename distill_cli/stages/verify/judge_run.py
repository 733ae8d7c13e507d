"""Ask the judge about one verified shard, through generate's backends, request keys and result checkpoints.

Judge requests are generate requests: keyed by generate's `request_key` (the row's prompt id, the rendered judge
prompt, temperature 0 sampling and the judge model), streamed into generate's `ResultSink`, which saves finished
replies in chunks under the shard's `_work/part-N/judge/`, and resumed with generate's `latest_results` /
`finished_keys`: a killed verify re-asks only what had no saved reply (failed requests are retried). Rows whose
questions render the same share one request.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

from distill_cli.engines.types import Backend, Request, Sampling
from distill_cli.errors import StageFailure
from distill_cli.stagedir.checkpoint import ShardCheckpoint
from distill_cli.stagedir.runner import ShardTask
from distill_cli.stages.generate.core import finished_keys, latest_results, results_frame
from distill_cli.stages.generate.keys import request_key
from distill_cli.stages.generate.shard import ResultSink
from distill_cli.stages.verify.judge import JudgeConfig, Reply, apply_verdicts, plan_asks

JUDGE_DIR = "judge"  # beside verify's own chunks in the shard's work directory


@dataclass(frozen=True)
class Judge:
    """The judge's settings and how to get its backend (built at the first shard that has a row to ask about)."""

    cfg: JudgeConfig
    backend: Callable[[], Backend]
    checkpoint_seconds: float = 10.0

    def sampling(self) -> Sampling:
        return Sampling(temperature=0.0, top_p=1.0, max_tokens=self.cfg.max_tokens)


class _Notes:
    """The shard's progress bar counts rows, not judge replies: show the replies as its note."""

    def __init__(self, progress, total: int):
        self.progress, self.total, self.done = progress, total, 0

    def advance(self, rows: int, note: str | None = None, resumed: bool = False) -> None:
        self.done += rows
        self.progress.advance(0, note=f"judge {self.done}/{self.total}")


def judge_shard(rows: pl.DataFrame, task: ShardTask, judge: Judge, domains: list[str],
                reasons: list[str | None]) -> tuple[pl.DataFrame, list[str | None], dict]:
    """The shard's rows with the judge's verdicts and columns; stats count requests asked, resumed and verdicts."""
    cfg, sampling = judge.cfg, judge.sampling()
    asks = plan_asks(rows, cfg, domains, reasons)
    keys, requests = [], {}
    for ask in asks:
        messages = ({"role": "user", "content": ask.prompt},)
        key = request_key(ask.id, 0, messages, sampling, cfg.model)
        keys.append(key)
        requests.setdefault(key, Request(key, key, 0, messages, sampling))
    sub = ShardTask(task.index, task.unit, ShardCheckpoint(task.checkpoint.work_dir / JUDGE_DIR),
                    _Notes(task.progress, len(requests)))
    saved = latest_results(sub.checkpoint.load())
    saved = saved.filter(pl.col("request_key").is_in(list(requests)))
    done = finished_keys(saved)
    todo = [r for k, r in requests.items() if k not in done]
    sub.progress.done = len(done)
    sink = ResultSink(sub, 1, {}, every=cfg.checkpoint_every, seconds=judge.checkpoint_seconds)
    if todo:
        try:
            judge.backend().generate(todo, sink)
        finally:
            sink.flush()  # a crash or Ctrl-C keeps every reply that already arrived
    results = latest_results(pl.concat([saved, results_frame(sink.rows)]))
    missing = set(requests) - set(results["request_key"].to_list())
    if missing:
        raise StageFailure(f"{len(missing)} of {len(requests)} judge requests got no reply; the replies so far are "
                           "saved, re-run to continue")
    by_key = {key: Reply(out, resp, err if finish == "error" else None) for key, out, resp, finish, err in
              results.select("request_key", "completion", "response", "finish_reason", "error").iter_rows()}
    frame, reasons, stats = apply_verdicts(rows, cfg, asks, [by_key[k] for k in keys], reasons)
    stats |= {"requests": len(requests), "asked": len(todo), "resumed": len(done)}
    return frame, reasons, stats


def verified_domains(rows: pl.DataFrame, forced: str) -> list[str]:
    """The domain each row was verified as (verify_frame's rule: forced, the row's own, else guessed)."""
    from distill_cli.stages.verify.core import row_domain

    def col(name: str) -> list:
        return rows.get_column(name).cast(pl.String).to_list() if name in rows.columns else [None] * rows.height

    return [row_domain(d, a, t, forced) for d, a, t in zip(col("domain"), col("answer"), col("tests"),  # type: ignore
                                                            strict=True)]


@dataclass(frozen=True)
class JudgeSetup:
    """What the command chose: the judge's config, and where it runs (an engine, or a server's URL). Picklable:
    under `--executor ray` each task builds its own backend from it (scaleout.py)."""

    cfg: JudgeConfig
    url: str | None = None
    api_key: str | None = None
    concurrency: int = 16
    quiet: bool = False
    kv_cache_memory: int | None = None  # bytes; an offline engine's other options are in cfg.engine

    def make_backend(self):
        """A picklable factory of generate's backends: offline vLLM on `cfg.model`, or the OpenAI-compatible
        server at `url`."""
        from functools import partial

        from distill_cli.engines.backends import openai_backend, vllm_backend

        if self.url:
            return partial(openai_backend, self.cfg.model, self.url, self.api_key, self.concurrency)
        engine = self.cfg.engine
        return partial(vllm_backend, self.cfg.model, dtype=engine.get("dtype", "auto"),
                       max_model_len=engine.get("max_model_len"), quiet=self.quiet,
                       kv_cache_memory=self.kv_cache_memory, engine_args=engine.get("engine_args"))

    def lazy_backend(self):
        """Built at the first shard with a row to ask about (a resumed or judge-free run starts none)."""
        from distill_cli.engines.backends import LazyBackend

        return LazyBackend(self.make_backend())

    def task_options(self, workers: int) -> dict:
        """A Ray task's resources: an offline judge engine also takes a GPU where the cluster has them."""
        return {"num_cpus": workers} | ({} if self.url else {"num_gpus": 1})


# vllm.LLM arguments the judge has an option for (the others it passes through --judge-engine-arg)
JUDGE_OWN = {"model": "--judge", "dtype": "--judge-dtype", "max_model_len": "--judge-max-model-len",
             "kv_cache_memory_bytes": "--judge-kv-cache-memory"}


def judge_setup(quiet: bool, judge: str | None, judge_url: str | None, judge_api_key: str | None, judge_when: str,
                judge_prompt, judge_trace: bool, judge_max_tokens: int, judge_concurrency: int,
                judge_checkpoint_every: int, judge_dtype: str, judge_max_model_len: int | None,
                judge_kv_cache_memory: str | None, judge_engine_arg: list[str] | None) -> JudgeSetup | None:
    """The judge the options ask for, checked before any work (None without --judge)."""
    if not judge:
        return None
    from distill_cli.stages.verify.judge import check_when, read_template

    engine, kv_bytes = {}, None
    if not judge_url:
        engine, kv_bytes = _judge_engine(judge, judge_dtype, judge_max_model_len, judge_kv_cache_memory,
                                         judge_engine_arg)
    cfg = JudgeConfig(model=judge, template=read_template(judge_prompt), when=check_when(judge_when),
                      with_trace=judge_trace, max_tokens=judge_max_tokens, checkpoint_every=judge_checkpoint_every,
                      engine=engine)
    return JudgeSetup(cfg, judge_url, judge_api_key, judge_concurrency, quiet, kv_bytes)


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
