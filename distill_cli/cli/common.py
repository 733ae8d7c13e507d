"""Options every stage takes, and the glue from them to the stage runner."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, get_args

import typer

if TYPE_CHECKING:
    from distill_cli.stagedir.runner import RunOptions

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
SCALE = "Scale-out"


def opt(panel: str | None, *param_decls: str, **kwargs):
    """typer.Option in a help panel (shorter to read in a long list of options)."""
    return typer.Option(*param_decls, rich_help_panel=panel, **kwargs)


def choice(literal, flag: str, *param_decls: str, **kwargs):
    """A typer option whose values are a `Literal`'s (shown in --help as [a|b|c]), refused in the project's form:
    one line, `Error: --flag 'value': expected ...`, exit 2, like every other bad option (click's own Choice
    error is a usage box). Annotate the parameter with the Literal so the config gets the narrow type."""
    names = [str(v) for v in get_args(literal)]
    expected = " or ".join(names) if len(names) < 3 else f"{', '.join(names[:-1])} or {names[-1]}"

    def parse(value: str) -> str:
        if value in names:
            return value
        from distill_cli.errors import BadInput

        raise BadInput(f"{flag} {value!r}: expected {expected}")

    return typer.Option(flag, *param_decls, parser=parse, metavar=f"[{'|'.join(names)}]", **kwargs)



Executor = Annotated[Literal["local", "ray"], choice(
    Literal["local", "ray"], "--executor", help="Run shards in this process, or as Ray tasks (from a clone: "
    "pip install '.\\[ray]').",
    rich_help_panel=SCALE)]
RayAddress = Annotated[str | None, typer.Option(
    "--ray-address", help="Ray cluster to join: auto (a running cluster, also $RAY_ADDRESS) or ray://HOST:PORT; "
    "default: start a local Ray.", rich_help_panel=SCALE)]
RowsPerShard = Annotated[int, typer.Option(
    "--rows-per-shard", min=1, help="Input rows per output shard.", rich_help_panel=COMMON)]


def run_options(out: Path, shard: str | None, limit: int | None, overwrite: bool, workers: int, quiet: bool,
                rows_per_shard: int = 100_000, progress_interval: float = 30.0) -> RunOptions:
    from distill_cli.stagedir.runner import RunOptions, parse_shard

    return RunOptions(out=out, shard=parse_shard(shard), limit=limit, overwrite=overwrite, workers=workers,
                      quiet=quiet, rows_per_shard=rows_per_shard, progress_interval=progress_interval)


def typed(ctx: typer.Context) -> set[str]:
    """The parameters given on the command line (not defaults, not the environment)."""
    sources = {name: ctx.get_parameter_source(name) for name in ctx.params}
    return {name for name, source in sources.items() if getattr(source, "name", None) == "COMMANDLINE"}


def refuse_unused(ctx: typer.Context, readers: dict[str, tuple[str, ...]], chosen: tuple[str, ...],
                  choice: str) -> None:
    """An option that none of the chosen strategies or modes reads is a usage error, never silently ignored:
    `compress -s trim --budget 10` would otherwise run and leave every over-budget trace in.

    `readers` maps a parameter name to the choices that read it; `choice` names the option that chose (or is
    empty when the choices are options themselves, as select's --total and --per-prompt)."""
    from distill_cli.errors import BadInput

    given = typed(ctx)
    for name, users in readers.items():
        if name in given and not set(users) & set(chosen):
            flag = _flag(ctx, name)
            readers_ = " or ".join(f"{choice} {u}".strip() for u in users)
            now = f"{choice} {','.join(chosen)}".strip() if chosen else "the options given"
            raise BadInput(f"{flag} is read only with {readers_}; it does nothing with {now}, so it is refused "
                           "rather than ignored")


def _flag(ctx: typer.Context, name: str) -> str:
    param = next((p for p in ctx.command.params if p.name == name), None)
    opts = [o for o in getattr(param, "opts", []) if o.startswith("--")]
    return opts[0] if opts else "--" + name.replace("_", "-")
