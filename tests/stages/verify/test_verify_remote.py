"""--sandbox-url: code runs on a SandboxFusion-compatible service (here a local fake that really runs it)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import polars as pl
import pytest
from cp_problems import WATERMELON
from verify_fixtures import mbpp, mbpp_program

from distill_cli.stages.verify.core import VerifyConfig, verify_frame


class FakeSandbox(ThreadingHTTPServer):
    """POST /run_code runs the code with subprocess; every third distinct request fails with a 500 the first time
    it is sent (its retry works), so the script does not depend on how concurrent requests interleave."""

    def __init__(self, always_fail: bool = False):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.always_fail, self.lock = always_fail, threading.Lock()
        self.requests = self.in_flight = self.max_in_flight = self.failures = 0
        self.seen: set[bytes] = set()
        self.thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        srv: FakeSandbox = self.server  # type: ignore[assignment]
        raw = self.rfile.read(int(self.headers["Content-Length"]))
        body = json.loads(raw)
        with srv.lock:
            srv.requests += 1
            fail = srv.always_fail or (raw not in srv.seen and len(srv.seen) % 3 == 2)
            srv.seen.add(raw)
            srv.failures += fail
            srv.in_flight += 1
            srv.max_in_flight = max(srv.max_in_flight, srv.in_flight)
        try:
            if fail:
                self.send_response(500)
                self.end_headers()
                return
            answer = json.dumps(_run(body)).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
        finally:
            with srv.lock:
                srv.in_flight -= 1


def _run(body: dict) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        compiled = None
        if body["language"] == "cpp":
            (Path(tmp) / "a.cpp").write_text(body["code"])
            c = subprocess.run(["g++", "-O2", "-o", "a", "a.cpp"], cwd=tmp, capture_output=True, text=True)
            compiled = {"status": "Finished", "return_code": c.returncode, "stdout": c.stdout, "stderr": c.stderr}
            if c.returncode:
                return {"status": "Failed", "compile_result": compiled, "run_result": None}
            argv = ["./a"]
        else:
            (Path(tmp) / "a.py").write_text(body["code"])
            argv = [sys.executable, "-I", "a.py"]
        try:
            r = subprocess.run(argv, cwd=tmp, input=body.get("stdin", ""), capture_output=True, text=True,
                               timeout=body["run_timeout"])
            run = {"status": "Finished", "return_code": r.returncode, "stdout": r.stdout, "stderr": r.stderr}
        except subprocess.TimeoutExpired:
            run = {"status": "TimeLimitExceeded", "return_code": None, "stdout": "", "stderr": ""}
        return {"status": "Success", "compile_result": compiled, "run_result": run}


def _frame(rows: list[tuple[str, str, str]]) -> pl.DataFrame:
    return pl.DataFrame({"id": [r[0] for r in rows], "response": [r[1] for r in rows], "answer": [None] * len(rows),
                         "domain": ["code"] * len(rows), "tests": [r[2] for r in rows]},
                        schema_overrides={"answer": pl.String})


@pytest.mark.slow
def test_remote_sandbox_runs_every_kind_with_retries_and_bounded_concurrency():
    server = FakeSandbox()
    server.thread.start()
    code = mbpp()[3]
    stdio = json.dumps(WATERMELON["tests"])
    rows = [("mbpp", f"```python\n{mbpp_program(code)}\n```", json.dumps(code["test_list"])),
            ("py", f"```python\n{WATERMELON['python']}```", stdio),
            ("py_wrong", f"```python\n{WATERMELON['python_wrong']}```", stdio)]
    if shutil.which("g++"):
        rows += [("cpp", f"```cpp\n{WATERMELON['cpp']}```", stdio)]
    # the local sandbox is rlimits-only here, where C++ is refused: a `correct` C++ row ran remotely
    cfg = VerifyConfig(workers=1, code_timeout=10.0, sandbox="rlimits", sandbox_url=server.url,
                       sandbox_concurrency=2)
    try:
        out, _ = verify_frame(_frame(rows), cfg)
    finally:
        server.shutdown()
    got = dict(zip(out["id"], out["verdict"], strict=True))
    assert got == {"mbpp": "correct", "py": "correct", "py_wrong": "incorrect",
                   **({"cpp": "correct"} if len(rows) == 4 else {})}
    assert out.filter(pl.col("id") == "py_wrong")["test_results"].to_list() == [["pass", "fail"] + ["pass"] * 4]
    assert server.failures > 0 and 0 < server.max_in_flight <= 2


def test_remote_sandbox_that_never_answers_gives_error_not_a_verdict():
    server = FakeSandbox(always_fail=True)
    server.thread.start()
    cfg = VerifyConfig(workers=1, sandbox_url=server.url, sandbox_concurrency=2)
    try:
        out, stats = verify_frame(_frame([("x", "```python\nprint(input())\n```",
                                           json.dumps({"inputs": ["1"], "outputs": ["1"]}))]), cfg)
    finally:
        server.shutdown()
    assert out["verdict"].to_list() == ["error"] and stats["reasons"] == {"sandbox_unavailable": 1}
    assert server.requests == 4  # the first try and three retries
