"""report's glue: gather a run's stage directories, draw the figures and the page into a directory swapped in
whole, and print the summary table. The options are parsed by cli/report.py."""

from __future__ import annotations

from pathlib import Path

from rich.console import JustifyMethod
from rich.table import Table

from distill_cli.errors import BadInput
from distill_cli.progress import make_console
from distill_cli.report import html, plots
from distill_cli.report.summary import RunReport, gather
from distill_cli.stagedir.atomic import replace_dir

PAGE = "report.html"


def write_report(rep: RunReport, out: Path) -> dict[str, Path]:
    """Draw into a temp directory beside `out` and swap it in whole: a report is never half old, half new."""
    if out.exists() and any(out.iterdir()) and not (out / PAGE).exists():
        raise BadInput(f"{out}: exists and is not a distill report directory; choose another -o")
    out.parent.mkdir(parents=True, exist_ok=True)
    images: dict[str, Path] = {}

    def fill(tmp: Path) -> None:
        tmp.mkdir()
        images.update(plots.render_all(rep, tmp))
        (tmp / PAGE).write_text(html.render(rep, images), encoding="utf-8")

    replace_dir(out, fill)
    return {name: out / path.name for name, path in images.items()}


def summary_table(rep: RunReport) -> Table:
    table = Table(title=f"distill run: {rep.run_dir}", title_justify="left")
    columns: tuple[tuple[str, JustifyMethod], ...] = (("directory", "left"), ("stage", "left"), ("rows", "right"),
                                                      ("note", "left"))
    for name, justify in columns:
        table.add_column(name, justify=justify)
    for s in rep.stages:
        table.add_row(s.path.name, s.stage, f"{s.rows:,}", rep.notes.get(s.path, ""),
                      style=None if s.complete else "yellow")
    return table


def run(run_dir: Path, output: Path | None = None, quiet: bool = False) -> None:
    """Write RUN_DIR/report/report.html (or `output`) and print what it holds."""
    if not run_dir.is_dir():
        raise BadInput(f"{run_dir}: no such directory")
    rep = gather(run_dir)
    if not rep.stages:
        raise BadInput(f"{run_dir}: no stage directories found (no _manifest.json in it or one or two levels down)")
    out = output if output is not None else (run_dir / "report")
    images = write_report(rep, out)
    if quiet:
        return
    console = make_console()
    console.print(summary_table(rep))
    if rep.cost:
        console.print(rep.cost, highlight=False)
    for exported in rep.exports:
        console.print(f"export: {exported.describe()}", highlight=False, soft_wrap=True)
    if rep.missing:
        console.print(f"[yellow]not in this run:[/yellow] {', '.join(rep.missing)}")
    console.print(f"report: {out / PAGE} ({len(images)} figures: {', '.join(images) or 'none'})")
