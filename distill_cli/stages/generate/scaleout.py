"""generate as Ray tasks: the command's own `generate_shard`, with a backend that lives and dies with one task.

For vLLM, give the task the GPUs one engine needs (`task_options={"num_gpus": tensor_parallel_size}`); Ray ends a
GPU task's worker process after the task, which is what returns a vLLM engine's GPU memory. For an
OpenAI-compatible server, Ray tasks only spread the HTTP clients (and their checkpoints) over machines.
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl

from distill_cli.engines.types import Backend
from distill_cli.stagedir.runner import ShardTask
from distill_cli.stages.generate.core import GenerateConfig


class RayGenerate:
    """A picklable `process(df, task)` for `run_map_ray`; `make_backend` is a picklable factory (e.g. a
    functools.partial of VLLMBackend or OpenAIBackend) called inside the task, only if the shard has work left."""

    def __init__(self, cfg: GenerateConfig, make_backend: Callable[[], Backend], every: int = 64,
                 seconds: float = 30.0):
        self.cfg, self.make_backend, self.every, self.seconds = cfg, make_backend, every, seconds

    def __call__(self, df: pl.DataFrame, task: ShardTask) -> tuple[pl.DataFrame, dict]:
        from distill_cli.engines.backends import LazyBackend
        from distill_cli.stages.generate.shard import generate_shard

        backend = LazyBackend(self.make_backend)
        try:
            return generate_shard(df, task, self.cfg, backend.get, self.every, self.seconds)
        finally:
            backend.close()


class ReplicaGenerate:
    """One replica of `--data-parallel-size`: one engine for every shard of its share (engines/replicas.py)."""

    def __init__(self, cfg: GenerateConfig, make_backend: Callable[[], Backend], every: int = 64,
                 seconds: float = 30.0):
        self.cfg, self.make_backend, self.every, self.seconds = cfg, make_backend, every, seconds

    def __call__(self, inp, opts, params: dict) -> None:
        from distill_cli.engines.backends import LazyBackend
        from distill_cli.stagedir.runner import run_map
        from distill_cli.stages.generate.shard import generate_shard

        backend = LazyBackend(self.make_backend)
        try:
            run_map("generate", inp, opts, params=params,
                    process=lambda df, task: generate_shard(df, task, self.cfg, backend.get, self.every,
                                                            self.seconds))
        finally:
            backend.close()
