"""The lines a stage prints when it ends: already complete, what one --shard task wrote, the stage's counts.

Every stage's run.py ends with one of these, so a re-run or a Slurm array task says the same thing in every stage.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from distill_cli.stagedir.directory import StageDir, merge_stats


def already_complete(stage: str, sd: StageDir, output: Path, quiet: bool,
                     detail: Callable[[dict], str] | None = None) -> bool:
    """Say so when a re-run found its stage complete (and did nothing); True when it did. `detail(stats)` adds
    the stage's own counts (verify: its verdicts)."""
    if not sd.was_complete:
        return False
    if not quiet:
        from distill_cli.progress import console

        manifest = sd.read_manifest()
        extra = detail(manifest.get("stats") or {}) if detail else ""
        console.print(f"{stage}: already complete, {manifest.get('rows', 0)} rows in {manifest.get('n_shards', 0)} "
                      f"shard(s){f' ({extra})' if extra else ''} -> {output}; nothing to do (--overwrite redoes it)")
    return True


def shard_note(sd: StageDir, shard: tuple[int, int] | None) -> str:
    """What one --shard task did, for the line a Slurm log shows: rows and shards it wrote, of how many."""
    if shard is None:
        return ""
    mine = sum(1 for i in range(sd.n_shards) if i % shard[1] == shard[0])
    where = f"shard {shard[0]}/{shard[1]}"
    if not sd.written:
        return f"{where}: its {mine} output shard(s) of {sd.n_shards} were already written, nothing to do"
    return (f"{where}: wrote {len(sd.written)} of its {mine} output shard(s), {sum(sd.written.values())} rows "
            f"({sd.n_shards} shards in the stage)")


def task_stats(sd: StageDir) -> dict:
    """The stage's stats when it is complete; otherwise the sum over the shards this task wrote."""
    manifest = sd.read_manifest()
    if manifest.get("complete"):
        return manifest.get("stats") or {}
    total: dict = {}
    for index in sd.written:
        merge_stats(total, sd.shard_stats(index))
    total["rows_out"] = sum(sd.written.values())
    return total


def shard_pending(stage: str, sd: StageDir, shard: tuple[int, int] | None, output: Path, quiet: bool) -> bool:
    """For a --shard task that left other shards to its siblings: say what it wrote (the stage's own counts come
    with the task that completes it); True when it did."""
    if shard is None or sd.read_manifest().get("complete"):
        return False
    if not quiet:
        from distill_cli.progress import console

        console.print(f"{stage}: {shard_note(sd, shard)} -> {output} (other shards pending)")
    return True
