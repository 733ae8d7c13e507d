"""The viewer's HTTP server: the standard library's threading server, GET only, read only.

The standard library starts in milliseconds and adds no dependency; the viewer needs no more than routing a few
URLs. Each path segment is decoded on its own and a segment holding '..' is refused with 400 before any lookup;
stages, report files and static assets are then found by exact name in lists made beforehand, never by joining a
requested path onto a directory. Every response carries a Content-Security-Policy that allows only the viewer's
own scripts, a second guard behind the escaping of trace text.
"""

from __future__ import annotations

import errno
import json
import math
import mimetypes
import socket
import sys
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib.resources import files
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from distill_cli.errors import BadInput, one_line
from distill_cli.view import pages
from distill_cli.view.app import NotFound, Viewer, check_name

CSP = ("default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; font-src 'self'; "
       "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def static_files() -> dict[str, Path]:
    """Every packaged asset by its URL path under /static/ (the only files /static/ can serve)."""
    root = Path(str(files("distill_cli") / "view" / "static"))
    return {p.relative_to(root).as_posix(): p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")}


def _clean(value):
    """JSON has no NaN or infinity: such floats become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def to_json(obj) -> bytes:
    # '<' escaped too: a JSON answer pasted into a page can never close a script element
    return json.dumps(_clean(obj), default=str, ensure_ascii=False).replace("<", "\\u003c").encode()


def segments(path: str) -> list[str]:
    parts = [unquote(p) for p in path.split("/") if p]
    for part in parts:
        check_name(part, "path segment")
    return parts


def prompt_json(page) -> dict:
    return {"stage": page.stage.name, "id": page.prompt_id, "selected": page.selected,
            "traces": [{**{k: v for k, v in t.items() if k != "__removed"}, "removed": bool(t.get("__removed")),
                        "removals": [{"stage": r.stage, "kind": r.kind, **r.record} for r in rs]}
                       for t, rs in zip(page.traces, page.removals, strict=True)]}


class Handler(BaseHTTPRequestHandler):
    server_version = "distill-view"
    viewer: Viewer
    assets: dict[str, Path]

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's signature
        """Quiet: the terminal shows the URL, not a line per request."""

    def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
        self.do_GET()

    def do_GET(self) -> None:  # noqa: N802
        url = urlsplit(self.path)
        params = parse_qs(url.query, keep_blank_values=True)
        try:
            parts = segments(url.path)
            self.route(parts, params)
        except BadInput as exc:
            self.fail(HTTPStatus.BAD_REQUEST, str(exc), url.path)
        except NotFound as exc:
            self.fail(HTTPStatus.NOT_FOUND, str(exc), url.path)
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as exc:  # a damaged shard or a stage rewritten mid-read: say so, keep serving
            message = f"cannot read {url.path}: {one_line(exc)}"
            sys.stderr.write(f"Error: {message}\n")
            self.fail(HTTPStatus.INTERNAL_SERVER_ERROR, message, url.path)

    def do_POST(self) -> None:  # noqa: N802
        self.fail(HTTPStatus.METHOD_NOT_ALLOWED, "the viewer is read-only", urlsplit(self.path).path)

    do_PUT = do_DELETE = do_PATCH = do_POST  # noqa: N815

    def route(self, parts: list[str], params: dict[str, list[str]]) -> None:
        v = self.viewer
        match parts:
            case []:
                self.send(pages.run_page(v))
            case ["stages", name]:
                self.send(pages.stage_page(v, v.stage(name), params))
            case ["stages", name, "rows", pid]:
                self.send(pages.trace_page(v, v.prompt(name, pid, *self.which(params))))
            case ["api", "stages"]:
                self.send(v.stages_json())
            case ["api", "stages", name, "rows"]:
                self.send(v.rows_json(name, params))
            case ["api", "stages", name, "facets"]:
                self.send(v.facets_json(name))
            case ["api", "stages", name, "rows", pid]:
                self.send(prompt_json(v.prompt(name, pid, *self.which(params))))
            case ["static", *rest] if "/".join(rest) in self.assets:
                self.send_file(self.assets["/".join(rest)], cache=True)
            case ["report", name]:
                self.send_file(v.report_file(name))
            case _:
                raise NotFound(f"no page at /{'/'.join(parts)}")

    @staticmethod
    def which(params: dict[str, list[str]]) -> tuple[int | None, str | None]:
        sample = (params.get("sample") or [""])[-1]
        if sample and not sample.lstrip("-").isdigit():
            raise BadInput(f"query parameter sample: not a number: {sample[:40]!r}")
        return (int(sample) if sample else None), ((params.get("model") or [""])[-1] or None)

    def send(self, body: str | dict, status: int = HTTPStatus.OK) -> None:
        if isinstance(body, str):
            self.reply(status, body.encode(), "text/html; charset=utf-8")
        else:
            self.reply(status, to_json(body), "application/json")

    def send_file(self, path: Path, cache: bool = False) -> None:
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if kind.startswith("text/") or kind == "application/javascript":
            kind += "; charset=utf-8"
        self.reply(HTTPStatus.OK, path.read_bytes(), kind, cache)

    def fail(self, status: int, message: str, path: str) -> None:
        if path.startswith("/api/"):
            self.send({"error": message, "status": int(status)}, status)
        else:
            self.send(pages.error_page(self.viewer, int(status), message), status)

    def reply(self, status: int, data: bytes, kind: str, cache: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.send_header("Cache-Control", "max-age=3600" if cache else "no-store")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


def make_server(root: Path, host: str = "127.0.0.1", port: int = 8765) -> ThreadingHTTPServer:
    """A server bound to host:port (port 0: any free port) serving the stages under root."""
    handler = type("ViewHandler", (Handler,), {"viewer": Viewer(root), "assets": static_files()})
    cls = ThreadingHTTPServer
    if ":" in host:  # an IPv6 address
        cls = type("ViewServer6", (ThreadingHTTPServer,), {"address_family": socket.AF_INET6})
    server = cls((host, port), handler)
    server.daemon_threads = True
    return server


def serve(run_dir: Path, host: str, port: int, open_browser: bool) -> None:
    """`distill view`: serve until Ctrl-C; a taken port or a bad address is one line, and a non-loopback address
    a warning (anyone who can reach it reads the traces)."""
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
        print(f"warning: listening on {host}, not 127.0.0.1: anyone who can reach this machine on port {bound} "
              "can read these traces", file=sys.stderr, flush=True)
    print(f"distill view: {len(stages)} stage(s) of {viewer.root} at {url}  (read-only; Ctrl-C stops)", flush=True)
    if open_browser:
        import webbrowser

        webbrowser.open(url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
