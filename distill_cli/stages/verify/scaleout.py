"""verify as Ray tasks: the command's own `verify_shard`, with a worker pool that lives and dies with one task.

The local command shares one lazily started pool across shards; a Ray task runs in a reused Ray worker process,
so it must close the pool it starts or the processes would outlive the task.
"""

from __future__ import annotations

import polars as pl

from distill_cli.stagedir.runner import ShardTask
from distill_cli.stages.verify.core import VerifyConfig


class RayVerify:
    """A picklable `process(df, task)` for `run_map_ray`: identical rows and stats to the local command."""

    def __init__(self, cfg: VerifyConfig):
        self.cfg = cfg

    def __call__(self, df: pl.DataFrame, task: ShardTask) -> tuple[pl.DataFrame, dict]:
        from distill_cli.stages.verify.shard import LazyPool, verify_shard

        pool = LazyPool(self.cfg)  # started inside the task, closed with it: Ray reuses worker processes
        try:
            return verify_shard(df, task, self.cfg, pool)
        finally:
            pool.close()
