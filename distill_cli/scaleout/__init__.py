"""Scale-out: the same stage code on more machines. Slurm arrays need nothing here (`--shard I/N` on every
stage, see docs/scaleout.md); Ray runs a row-local stage's shards as Ray tasks through `run_map_ray`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import typer

from distill_cli.errors import BadInput

SCALE = "Scale-out"

Executor = Annotated[str, typer.Option(
    "--executor", help="local | ray: run shards in this process, or as Ray tasks (from a clone: "
    "pip install '.\\[ray]').",
    rich_help_panel=SCALE)]
RayAddress = Annotated[str | None, typer.Option(
    "--ray-address", help="Ray cluster to join: auto (a running cluster, also $RAY_ADDRESS) or ray://HOST:PORT; "
    "default: start a local Ray.", rich_help_panel=SCALE)]


def pick_runner(executor: str, ray_address: str | None = None, **task_options) -> Callable:
    """`run_map` or a `run_map_ray` bound to a cluster: the call site stays `runner(stage, inp, opts, ...)`."""
    from distill_cli.stagedir.runner import run_map

    if executor == "local":
        if ray_address is not None:
            raise BadInput("--ray-address: only with --executor ray")
        return run_map
    if executor != "ray":
        raise BadInput(f"--executor {executor!r}: expected local or ray")
    from functools import partial

    from distill_cli.stagedir.ray_executor import run_map_ray

    return partial(run_map_ray, address=ray_address, task_options=task_options or None)
