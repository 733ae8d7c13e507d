"""distill run: run a pipeline file's stages in order, skipping what is done and resuming what is not.

Each stage runs as its own process (`python -m distill_cli STAGE ...`, the same interpreter): the stage's
command is the one a user would type, a vLLM engine starts in a clean process and frees its memory when the
stage ends, and a kill of the whole process group leaves every stage directory resumable.

What was run is recorded in `RUN_DIR/_pipeline.json` (per stage: its argv, a digest of its input, and its
output manifest's params hash once complete). A stage is skipped when its output is complete and was made by
the same argv from the same input; otherwise it runs, and the stage itself resumes its unfinished shards.
"""

from __future__ import annotations

import glob
import hashlib
import json
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

from rich.markup import escape

from distill_cli.errors import BadInput, StageFailure
from distill_cli.pipeline.core import CommandSpec, Pipeline, Step, parse_pipeline
from distill_cli.progress import console
from distill_cli.stagedir.atomic import write_json
from distill_cli.stagedir.inputs import MANIFEST, file_digest

STATE = "_pipeline.json"


def run(pipeline: Path, specs: dict[str, CommandSpec], run_dir: str | None = None, start: str | None = None,
        stop: str | None = None, dry_run: bool = False, overwrite: bool = False, quiet: bool = False) -> None:
    """Run the pipeline file's steps (`specs`: each stage command's parameters, read from the CLI)."""
    try:
        text = pipeline.read_text()
    except OSError as exc:
        raise BadInput(f"{pipeline}: cannot read: {exc.strerror or exc}") from None
    pipe = parse_pipeline(text, str(pipeline), specs, run_dir)
    steps = pipe.select(start, stop)
    state_path = Path(pipe.run_dir) / STATE
    state = _load_state(state_path)
    started, ran, skipped = time.perf_counter(), 0, 0
    for step in steps:
        digest = input_digest(step)
        record = state.get(step.name, {})
        if _is_done(step, record, digest):
            skipped += 1
            _say(quiet, f"[dim]skip  {_where(step, pipe)}: complete ({escape(str(step.output))})[/dim]")
            continue
        argv = _argv(step, record, digest, overwrite, quiet)
        if dry_run:
            print(f"run   {step.index}/{len(pipe.steps)} {step.name}: distill {shlex.join(argv)}")
            continue
        _say(quiet, f"[bold]run   {_where(step, pipe)}:[/bold] distill {escape(shlex.join(argv))}")
        state[step.name] = {"argv": list(step.argv), "input_digest": digest, "done": False}
        _save_state(state_path, pipe, state)
        try:
            _execute(pipe, step, argv)
        except StageFailure as exc:
            if exc.exit_code == 2:  # refused up front (bad input, conflict): the old output is still what it was
                state[step.name] = record
                _save_state(state_path, pipe, state)
            raise
        state[step.name] = {**state[step.name], "done": True, "params_hash": _params_hash(step)}
        _save_state(state_path, pipe, state)
        ran += 1
    if not dry_run:
        _say(quiet, f"run: {ran} stage(s) ran, {skipped} skipped in {time.perf_counter() - started:.0f} s "
                    f"-> {pipe.run_dir}")







def input_digest(step: Step) -> str:
    """A cheap digest of what the stage reads (every Parquet file's size, head and footer); hf: specs as text."""
    if step.stage == "report":
        return ""  # a report reads the whole run: always redone, it is cheap
    h = hashlib.blake2b(digest_size=12)
    for spec in step.input:
        h.update(spec.encode())
        for f in _files(spec):
            h.update(f"{f.name}:{file_digest(f)}".encode())
    return h.hexdigest()


def _files(spec: str) -> list[Path]:
    path = Path(spec)
    if spec.startswith("hf:"):
        return []
    if path.is_dir():
        return sorted(path.glob("part-*.parquet")) or sorted(
            p for p in path.glob("*.parquet") if not p.name.startswith(("_", ".")))
    if path.is_file():
        return [path]
    return sorted(Path(p) for p in glob.glob(spec, recursive=True) if Path(p).is_file())


def _manifest(step: Step) -> dict | None:
    if step.output is None or not step.writes_dir:
        return None
    try:
        return json.loads((Path(step.output) / MANIFEST).read_text())
    except (OSError, json.JSONDecodeError):
        return None


def _params_hash(step: Step) -> str | None:
    m = _manifest(step)
    return m.get("params_hash") if m else None


def _is_done(step: Step, record: dict, digest: str) -> bool:
    if step.stage == "report" or not record.get("done"):
        return False
    if record.get("argv") != list(step.argv) or record.get("input_digest") != digest:
        return False
    if step.writes_dir:
        m = _manifest(step)
        return bool(m and m.get("complete") and m.get("params_hash") == record.get("params_hash"))
    out = step.output or ""
    return not out.startswith("hf:") and Path(out).exists()


def _argv(step: Step, record: dict, digest: str, overwrite: bool, quiet: bool) -> list[str]:
    """The stage's argv, plus --overwrite only where the old output is not a resumable run of this very step."""
    argv = list(step.argv)
    if quiet and "--quiet" not in argv:
        argv.append("--quiet")
    resumable = record.get("argv") == list(step.argv) and record.get("input_digest") == digest
    if overwrite and not resumable and "--overwrite" not in argv:
        argv.append("--overwrite")
    return argv


def _execute(pipe: Pipeline, step: Step, argv: list[str]) -> None:
    """Run the stage command as a child; SIGTERM to `distill run` is passed on so the child stops cleanly."""
    import distill_cli.cli as root

    debug = ["--debug"] if root.debugging() else []  # `distill --debug run ...` debugs its stages too
    proc = subprocess.Popen([sys.executable, "-m", "distill_cli", *debug, *argv])
    previous = signal.signal(signal.SIGTERM, lambda *_: proc.send_signal(signal.SIGTERM))
    try:
        code = proc.wait()
    except KeyboardInterrupt:  # Ctrl-C reached the stage too (same process group): let it stop cleanly
        proc.wait()
        console.print(f"run: interrupted in stage {step.index} ({step.name}); re-run `distill run {pipe.file}` "
                      "to resume", highlight=False, soft_wrap=True)
        raise SystemExit(130) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
    if code != 0:
        # a stage stopped by SIGTERM/SIGINT unwinds and exits 128+signal; one killed outright reports -signal
        signum = -code if code < 0 else code - 128 if code in (128 + signal.SIGTERM, 128 + signal.SIGINT) else 0
        why = f"was stopped by signal {signum};" if signum else f"failed (exit {code}); fix the cause and"
        exc = StageFailure(f"{pipe.file}: stage {step.index} ({step.name}) {why} re-run `distill run {pipe.file}` "
                           "to resume from it")
        exc.exit_code = 128 + signum if signum else code
        raise exc


def _load_state(path: Path) -> dict:
    try:
        return json.loads(path.read_text()).get("stages", {})
    except (OSError, json.JSONDecodeError, AttributeError):
        return {}


def _save_state(path: Path, pipe: Pipeline, stages: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json(path, {"pipeline": pipe.file, "order": [s.name for s in pipe.steps], "stages": stages})


def _where(step: Step, pipe: Pipeline) -> str:
    return f"{step.index}/{len(pipe.steps)} {escape(step.name)}"


def _say(quiet: bool, message: str) -> None:
    if not quiet:
        console.print(message, highlight=False, soft_wrap=True)
