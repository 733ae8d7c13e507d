"""verify as Ray tasks: the command's own `verify_shard`, with a worker pool and a judge backend that live and die
with one task.

The local command shares one lazily started pool (and judge backend) across shards; a Ray task runs in a reused
Ray worker process, so it must close what it starts or the processes (and a judge's engine) would outlive the task.
Judge replies are checkpointed in the shard's `_work/` as in a local run.
"""

from __future__ import annotations

import polars as pl

from distill_cli.stagedir.runner import ShardTask
from distill_cli.stages.verify.core import VerifyConfig


class RayVerify:
    """A picklable `process(df, task)` for `run_map_ray`: identical rows and stats to the local command."""

    def __init__(self, cfg: VerifyConfig, judge=None):
        self.cfg, self.judge = cfg, judge  # judge: a judge_run.JudgeSetup, or None

    def __call__(self, df: pl.DataFrame, task: ShardTask) -> tuple[pl.DataFrame, dict]:
        from distill_cli.stages.verify.judge_run import Judge
        from distill_cli.stages.verify.shard import LazyPool, verify_shard

        pool = LazyPool(self.cfg)  # started inside the task, closed with it: Ray reuses worker processes
        lazy = self.judge.lazy_backend() if self.judge else None  # built only if the shard has a row to ask about
        try:
            asker = Judge(self.judge.cfg, lazy.get) if self.judge and lazy else None
            return verify_shard(df, task, self.cfg, pool, judge=asker)
        finally:
            pool.close()
            if lazy is not None:
                lazy.close()
