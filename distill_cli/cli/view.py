"""distill view: serve a run's stages to a browser, read-only, on 127.0.0.1 unless told otherwise."""

from __future__ import annotations

import errno
import webbrowser
from pathlib import Path
from typing import Annotated

import typer

from distill_cli.cli.base import app
from distill_cli.errors import BadInput


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
    from distill_cli.view.server import LOOPBACK, make_server

    if not run_dir.is_dir():
        raise BadInput(f"{run_dir}: no such directory")
    try:
        server = make_server(run_dir, host, port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise BadInput(f"--port {port}: address {host}:{port} is already in use; pass another --port") from exc
        raise BadInput(f"--host {host}: cannot listen there: {exc.strerror or exc}") from exc
    viewer = server.RequestHandlerClass.viewer
    bound = server.server_address[1]
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{bound}/"
    stages = viewer.catalog.stages()
    if host not in LOOPBACK:
        typer.echo(f"warning: listening on {host}, not 127.0.0.1: anyone who can reach this machine on port "
                   f"{bound} can read these traces", err=True)
    typer.echo(f"distill view: {len(stages)} stage(s) of {viewer.root} at {url}  (read-only; Ctrl-C stops)")
    if open_browser:
        webbrowser.open(url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
