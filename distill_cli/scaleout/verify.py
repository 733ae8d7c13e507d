"""verify as Ray tasks: the command's own `verify_shard`, with a worker pool that lives and dies with one task.

The local command shares one lazily started pool across shards; a Ray task runs in a reused Ray worker process,
so it must close the pool it starts or the processes would outlive the task.
"""

from __future__ import annotations

import polars as pl

from distill_cli.io.runner import ShardTask
from distill_cli.stages.verify import VerifyConfig


class _TaskPool:
    """The `get()`/`close()` shape `verify_shard` expects, started on first use."""

    def __init__(self, cfg: VerifyConfig):
        self.cfg, self.pool = cfg, None

    def get(self):
        if self.pool is None:
            from distill_cli.stages.verify.pool import VerifyPool

            self.pool = VerifyPool(self.cfg).__enter__()
        return self.pool

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool = None


class RayVerify:
    """A picklable `process(df, task)` for `run_map_ray`: identical rows and stats to the local command."""

    def __init__(self, cfg: VerifyConfig):
        self.cfg = cfg

    def __call__(self, df: pl.DataFrame, task: ShardTask) -> tuple[pl.DataFrame, dict]:
        from distill_cli.cli.verify import verify_shard

        pool = _TaskPool(self.cfg)
        try:
            return verify_shard(df, task, self.cfg, pool)
        finally:
            pool.close()
