"""distill run: the options of a pipeline run, and each stage command's parameters read from the app (the
steps run in pipeline/run.py, each as its own process)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from distill_cli.cli.base import app

if TYPE_CHECKING:
    from distill_cli.pipeline.core import CommandSpec


@app.command(epilog="Example: distill run configs/demo.yaml --run-dir runs/demo2 --from verify")
def run(
    pipeline: Annotated[Path, typer.Argument(help="Pipeline YAML file: run_dir and stages.", show_default=False)],
    run_dir: Annotated[str | None, typer.Option(
        "--run-dir", help="Use this run directory instead of the file's run_dir ({run_dir} in the file follows).")]
    = None,
    start: Annotated[str | None, typer.Option(
        "--from", help="Start at this stage (by name; the stage type unless it has a name:).")] = None,
    stop: Annotated[str | None, typer.Option("--to", help="Stop after this stage.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print what would run or be skipped; run nothing.")]
    = False,
    overwrite: Annotated[bool, typer.Option(
        "--overwrite", help="Redo a stage whose options or input changed since its output was made (resumed "
        "stages keep their finished work).")] = False,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Pass --quiet to every stage; print only errors.")]
    = False,
) -> None:
    """Run a pipeline file's stages in order, skipping finished stages and resuming unfinished ones."""
    from distill_cli.pipeline.run import run as run_pipeline

    run_pipeline(pipeline, command_specs(), run_dir, start, stop, dry_run, overwrite, quiet)


def command_specs() -> dict[str, CommandSpec]:
    """Each stage command's parameters, read from the typer app so the pipeline file follows its --help."""
    from distill_cli.cli import load
    from distill_cli.pipeline.core import STAGES, command_spec

    group = typer.main.get_command(load())
    commands = getattr(group, "commands", {})
    return {stage: command_spec(commands[stage].params) for stage in STAGES if stage in commands}
