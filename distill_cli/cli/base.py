"""The one typer app; each command module adds its command to it."""

import typer

app = typer.Typer(
    name="distill",
    help="Build reasoning-trace distillation datasets: collect, generate, verify, grade, select, compress, "
    "dedupe, export. Every stage reads and writes a stage directory of Parquet shards and resumes after a kill.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)
