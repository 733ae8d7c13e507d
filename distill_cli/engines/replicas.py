"""`--data-parallel-size N`: N engine replicas on one node, each a process of its own with its own engine.

A node with 8 GPUs and a 7B teacher wants 8 engines, not one. The shards still to do are dealt out in turn
(replica r takes the r-th, (r+N)-th, ... of them), each replica runs the stage's own `run_map` over its share in a
spawned process, and when every replica is done this process marks the directory complete. The output directory
is opened once, here, before any replica starts, so a conflict or `--overwrite` is decided once and not raced.
Each shard is written by exactly one replica, and a killed run resumes like any other (its unfinished shards are
dealt out again). On GPUs each replica sees its own `tensor_parallel_size` devices through CUDA_VISIBLE_DEVICES.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from distill_cli.errors import BadInput, DistillError, StageFailure, one_line
from distill_cli.stagedir.directory import StageDir
from distill_cli.stagedir.inputs import InputSet, open_input
from distill_cli.stagedir.runner import RunOptions, open_map, run_map

Job = Callable[[InputSet, RunOptions, dict], None]  # picklable: runs run_map over the shards opts.only names


def visible_devices() -> list[str]:
    """The GPUs this process may use: CUDA_VISIBLE_DEVICES if set, else the NVIDIA driver's list, else none."""
    env = os.environ.get("CUDA_VISIBLE_DEVICES")
    if env is not None:
        return [d for d in env.split(",") if d.strip()]
    gpus = Path("/proc/driver/nvidia/gpus")
    return [str(i) for i in range(len(list(gpus.iterdir())))] if gpus.is_dir() else []


def replica_envs(n: int, per_replica: int, devices: list[str]) -> list[dict[str, str]]:
    """Environment of each replica: its own slice of GPUs (nothing on a CPU-only node)."""
    if not devices:
        return [{} for _ in range(n)]
    if len(devices) < n * per_replica:
        raise BadInput(f"--data-parallel-size {n}: {n} replicas x {per_replica} GPU(s) each need {n * per_replica} "
                       f"GPUs, {len(devices)} visible")
    return [{"CUDA_VISIBLE_DEVICES": ",".join(devices[r * per_replica:(r + 1) * per_replica])} for r in range(n)]


def deal(todo: list[int], n: int) -> list[list[int]]:
    """Shard indices dealt out in turn, so every replica gets a share of the same size (within one)."""
    return [todo[r::n] for r in range(n)]


def run_replicas(n: int, stage: str, inp: InputSet, opts: RunOptions, params: dict, job: Job,
                 envs: list[dict[str, str]]) -> StageDir:
    sd, units = open_map(stage, inp, opts, params)
    todo = [u.index for u in units if opts.selects(u.index) and not sd.done(u.index)]
    ctx = multiprocessing.get_context("spawn")  # a fresh interpreter: no forked engine or thread state
    results = ctx.SimpleQueue()
    procs = []
    for rank, share in enumerate(deal(todo, n)):
        if share:
            mine = replace(opts, overwrite=False, quiet=True, only=frozenset(share))
            proc = ctx.Process(target=_replica, args=(rank, job, inp.spec, mine, params, envs[rank], results))
            proc.start()
            procs.append((rank, proc))
    for _, proc in procs:
        proc.join()
    reported = {}
    while not results.empty():
        rank, message, code = results.get()
        reported[rank] = (message, code)
    for rank, proc in procs:
        message, code = reported.get(rank, (f"died with exit code {proc.exitcode}", 1))
        if message:
            raise (BadInput if code == 2 else StageFailure)(f"replica {rank} of {n}: {message}")
    # every shard is written: mark the directory complete here, once (no process is racing this one now)
    return run_map(stage, inp, replace(opts, overwrite=False), params, process=_nothing_left)


def _nothing_left(df, task):
    raise StageFailure(f"shard {task.index} was left undone by every replica")


def _replica(rank: int, job: Job, spec: str, opts: RunOptions, params: dict, env: dict[str, str],
             results) -> None:
    os.environ.update(env)  # before the engine is imported: CUDA_VISIBLE_DEVICES must be set first
    try:
        job(open_input(spec), opts, params)
        results.put((rank, None, 0))
    except DistillError as exc:
        results.put((rank, str(exc), exc.exit_code))
    except BaseException as exc:  # a bug or a kill: the parent reports it in one line
        results.put((rank, f"{type(exc).__name__}: {one_line(exc)}", 1))
