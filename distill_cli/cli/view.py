"""distill view: serve a run's stages to a browser, read-only, on 127.0.0.1 unless told otherwise."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from distill_cli.cli.base import app


@app.command(epilog="Example: distill view runs/demo --port 8765 --open")
def view(
    run_dir: Annotated[Path, typer.Argument(help="A run directory holding stage directories, or one stage "
                                            "directory.", show_default=False)],
    port: Annotated[int, typer.Option("--port", "-p", min=0, max=65535, help="Port (0: any free port).")] = 8765,
    host: Annotated[str, typer.Option("--host", help="Address to listen on. Anything but 127.0.0.1/localhost "
                                      "lets other machines read the traces.")] = "127.0.0.1",
    open_browser: Annotated[bool, typer.Option("--open", help="Open the viewer in the default browser.")] = False,
) -> None:
    """Browse a run's traces in a local web page: stages, filters, one prompt's samples, math rendered."""
    from distill_cli.view.server import serve

    serve(run_dir, host, port, open_browser)
