"""`distill plan PIPELINE.yaml`: every generate step of a pipeline planned as `generate --dry-run`, in one table.

Prompts come from where the run would read them: a finished collect step's output, or, when collect has not run,
the same `distill collect` command run into a temporary directory that is deleted afterwards, so the run
directory gets no stage output. A generate step whose input is made by another unfinished stage cannot be
counted before that stage runs; the plan says so instead of guessing.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

from distill_cli.errors import BadInput, StageFailure
from distill_cli.pipeline.core import Pipeline, Step
from distill_cli.stages.plan.core import Estimate


def _complete(path: str | None) -> bool:
    try:
        return bool(path) and json.loads((Path(path) / "_manifest.json").read_text()).get("complete") is True
    except (OSError, ValueError):
        return False


def _collect_into(step: Step, tmp: Path) -> str:
    """The collect step's own command, into a temporary directory: prompts exactly as the run would have them."""
    out = tmp / step.name
    argv = list(step.argv)
    argv[argv.index("-o") + 1] = str(out)
    proc = subprocess.run([sys.executable, "-m", "distill_cli", *argv, "-q"], capture_output=True, text=True)
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["failed"])[-1]
        raise (BadInput if proc.returncode == 2 else StageFailure)(f"plan: stage {step.name}: {last}")
    return str(out)


def _generate_argv(step: Step, source: str, extra: list[str]) -> list[str]:
    argv = list(step.argv)
    argv[1] = source
    given = {a.split("=", 1)[0] for a in argv if a.startswith("--")}
    for i in range(0, len(extra), 2):
        if extra[i] not in given:
            argv += extra[i:i + 2]
    return [*argv, "--dry-run"]


def plan_pipeline(pipe: Pipeline, extra: list[str], command) -> tuple[list[Estimate], list[str]]:
    """Estimates of the pipeline's generate steps and notes on what could not be planned. `command` is the
    `distill generate` command (a click command, from the CLI), run in this process with --dry-run."""
    from distill_cli.stages.plan.run import collecting

    sources: dict[str, str] = {}
    estimates: list[Estimate] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="distill-plan-") as tmp:
        for step in pipe.steps:
            if step.stage == "collect":
                sources[step.output] = step.output if _complete(step.output) else _collect_into(step, Path(tmp))
            elif step.stage == "generate":
                source = sources.get(step.input[0], step.input[0])
                if source == step.input[0] and not _complete(source) and not Path(source).is_file():
                    notes.append(f"{step.name}: its input {source} is made by an earlier stage that has not run; "
                                 "run the pipeline up to it (distill run --to ...) and plan again")
                    continue
                with collecting() as got:
                    _invoke(command, _generate_argv(step, source, extra), step)
                estimates += [_named(e, step.name) for e in got]
    return estimates, notes


def _invoke(command, argv: list[str], step: Step) -> None:
    import click

    try:
        command.main(args=argv, prog_name="distill", standalone_mode=False)
    except click.ClickException as exc:
        raise BadInput(f"plan: stage {step.name}: {exc.format_message()}") from None


def _named(est: Estimate, name: str) -> Estimate:
    from dataclasses import replace

    return replace(est, name=name)


def plan_file(pipeline: Path, run_dir: str | None, extra: list[str], specs: dict, generate_command) -> None:
    """`distill plan`: read the pipeline file, plan its generate steps (with `extra` options: pilot, prices), print
    the table and what could not be planned; nothing is written under the run directory."""
    from distill_cli.pipeline.core import parse_pipeline
    from distill_cli.progress import make_console
    from distill_cli.stages.plan.run import print_plan

    try:
        text = pipeline.read_text()
    except OSError as exc:
        raise BadInput(f"{pipeline}: cannot read: {exc.strerror or exc}") from None
    pipe = parse_pipeline(text, str(pipeline), specs, run_dir)
    estimates, notes = plan_pipeline(pipe, extra, generate_command)
    console = make_console()
    if not estimates and not notes:
        raise BadInput(f"{pipeline}: no generate stage to plan")
    if estimates:
        print_plan(estimates, console)
    for note in notes:
        console.print(f"not planned: {note}", highlight=False, soft_wrap=True)
    console.print(f"plan: nothing was written under {pipe.run_dir}")
