"""Options every stage takes, and the glue from them to the stage runner."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from distill_cli.io.runner import RunOptions, parse_shard
from distill_cli.progress import DEFAULT_INTERVAL

COMMON = "Common options"

Output = Annotated[Path, typer.Option("-o", "--output", help="Output stage directory.", show_default=False)]
Shard = Annotated[str | None, typer.Option(
    "--shard", help="Do only shard I of N of the input (0-based I/N), e.g. 3/8 in a Slurm array task.",
    rich_help_panel=COMMON)]
Limit = Annotated[int | None, typer.Option(
    "--limit", min=1, help="Use only the first N input rows.", rich_help_panel=COMMON)]
Overwrite = Annotated[bool, typer.Option(
    "--overwrite", help="Replace an existing output made with other params or inputs.", rich_help_panel=COMMON)]
Workers = Annotated[int, typer.Option(
    "--workers", min=1, help="Parallel workers (verify: processes; grade: shards at once, at least 2).",
    rich_help_panel=COMMON)]
Quiet = Annotated[bool, typer.Option("-q", "--quiet", help="No progress bar or summary.", rich_help_panel=COMMON)]
ProgressInterval = Annotated[float, typer.Option(
    "--progress-interval", min=0, help="Seconds between plain progress lines when stderr is not a terminal (a log "
    "file, Slurm, nohup); 0: none.", rich_help_panel=COMMON)]
RowsPerShard = Annotated[int, typer.Option(
    "--rows-per-shard", min=1, help="Input rows per output shard.", rich_help_panel=COMMON)]


def run_options(out: Path, shard: str | None, limit: int | None, overwrite: bool, workers: int, quiet: bool,
                rows_per_shard: int = 100_000, progress_interval: float = DEFAULT_INTERVAL) -> RunOptions:
    return RunOptions(out=out, shard=parse_shard(shard), limit=limit, overwrite=overwrite, workers=workers,
                      quiet=quiet, rows_per_shard=rows_per_shard, progress_interval=progress_interval)


def not_yet(name: str) -> None:
    """A registered stage whose implementation has not landed: say so rather than pretend."""
    from distill_cli.errors import StageFailure

    raise StageFailure(f"`distill {name}` is not yet available in this version")
