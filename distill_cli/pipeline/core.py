"""Pipeline files: one YAML file names a run directory and the stages to run, each with its options.

This module is pure: it turns the file's text into a list of `Step`s, each the exact argument list of one
`distill <stage>` command, and validates every option against the command's own parameters (given as
`CommandSpec`s, which the CLI reads from the typer app) so that a typo fails before any teacher time is spent.

Paths are not resolved here: relative paths stay relative and resolve against the directory `distill run` is
started from, exactly as they would on the command line.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Literal

import yaml

from distill_cli.errors import BadInput
from distill_cli.schema import DIR_STAGES

# stages whose output is a stage directory (the default input of the stage after them)
STAGES = (*DIR_STAGES, "export", "report")
RESERVED = ("name", "input", "output")
RUN_DIR = "{run_dir}"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")

Kind = Literal["value", "multiple", "switch", "toggle", "argument"]


@dataclass(frozen=True)
class Param:
    """How one command parameter is spelled: `--max-tokens 256`, `--x/--no-x`, a repeated `--decontaminate`."""

    name: str  # the Python name, e.g. max_tokens
    kind: Kind
    flag: str | None = None  # the long option, e.g. --max-tokens (None for a positional argument)
    off_flag: str | None = None  # the negative spelling of a toggle, e.g. --no-streaming
    variadic: bool = False  # a positional argument that takes several values (collect's SOURCES)
    aliases: tuple[str, ...] = ()  # other spellings a pipeline may use: `n` for `-n/--samples`


CommandSpec = dict[str, Param]  # parameter name -> Param, one per stage command


def command_spec(params) -> CommandSpec:
    """How a command's click parameters are spelled (read from the CLI, so a pipeline file follows its --help);
    duck-typed: typer may carry its own copy of click."""
    spec: CommandSpec = {}
    for p in params:
        if not p.name:
            continue
        if p.param_type_name == "argument":
            spec[p.name] = Param(p.name, "argument", variadic=p.nargs == -1)
            continue
        long = next((o for o in p.opts if o.startswith("--")), p.opts[0])
        aliases = tuple(o.lstrip("-").replace("-", "_") for o in p.opts)
        if p.is_flag and p.secondary_opts:
            spec[p.name] = Param(p.name, "toggle", long, p.secondary_opts[0], aliases=aliases)
        elif p.is_flag:
            spec[p.name] = Param(p.name, "switch", long, aliases=aliases)
        else:
            spec[p.name] = Param(p.name, "multiple" if p.multiple else "value", long, aliases=aliases)
    return spec


@dataclass(frozen=True)
class Step:
    """One stage invocation: where it reads, where it writes, and the argv after `distill`."""

    index: int  # 1-based position in the file
    stage: str
    name: str
    input: tuple[str, ...]  # what it reads: a stage directory, a file/glob, collect's sources, or the run dir
    output: str | None  # a stage directory, export's file, or None (report's default)
    argv: tuple[str, ...]

    @property
    def writes_dir(self) -> bool:
        return self.stage in DIR_STAGES


@dataclass(frozen=True)
class Pipeline:
    file: str
    run_dir: str
    steps: tuple[Step, ...]

    def step(self, name: str, option: str) -> Step:
        for s in self.steps:
            if s.name == name:
                return s
        raise BadInput(f"{option} {name!r}: no stage of that name in {self.file} "
                       f"(stages: {', '.join(s.name for s in self.steps)})")

    def select(self, start: str | None = None, stop: str | None = None) -> list[Step]:
        """The steps from `start` to `stop` inclusive (names), in file order."""
        first = self.step(start, "--from").index if start else 1
        last = self.step(stop, "--to").index if stop else len(self.steps)
        if first > last:
            raise BadInput(f"--from {start!r} comes after --to {stop!r} in {self.file}")
        return [s for s in self.steps if first <= s.index <= last]


def parse_pipeline(text: str, file: str, specs: dict[str, CommandSpec], run_dir: str | None = None) -> Pipeline:
    """Parse and validate a whole pipeline file; `run_dir` overrides the file's `run_dir:`."""
    doc = _load_yaml(text, file)
    unknown = sorted(set(doc) - {"run_dir", "stages"})
    if unknown:
        raise BadInput(f"{file}: unknown top-level key(s) {', '.join(unknown)}; expected run_dir and stages")
    run_dir = run_dir or doc.get("run_dir")
    if not isinstance(run_dir, str) or not run_dir.strip():
        raise BadInput(f"{file}: run_dir: missing or not a path (set it in the file or pass --run-dir)")
    entries = doc.get("stages")
    if not isinstance(entries, list) or not entries:
        raise BadInput(f"{file}: stages: expected a non-empty list of stages")
    steps: list[Step] = []
    for i, entry in enumerate(entries, start=1):
        stage, options = _split_entry(entry, file, i)
        where = f"{file}: stage {i} ({stage})"
        if stage not in specs:
            raise BadInput(f"{where}: this version of distill has no `{stage}` command")
        step = _make_step(i, stage, options, specs[stage], steps, run_dir, where)
        if any(s.name == step.name for s in steps):
            raise BadInput(f"{where}: name {step.name!r} is used twice; give one a `name:` of its own")
        steps.append(step)
    return Pipeline(file, run_dir, tuple(steps))


def _load_yaml(text: str, file: str) -> dict:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise BadInput(f"{file}: invalid YAML{at}: {problem}") from None
    if not isinstance(doc, dict):
        raise BadInput(f"{file}: expected a mapping with run_dir and stages, found {type(doc).__name__}")
    return doc


def _split_entry(entry: object, file: str, index: int) -> tuple[str, dict]:
    """`- verify: {workers: 2}`, `- verify:` and `- verify` are all one stage entry."""
    if isinstance(entry, str):
        stage, options = entry, {}
    elif isinstance(entry, dict) and len(entry) == 1:
        stage, options = next(iter(entry.items()))
        options = {} if options is None else options
    else:
        raise BadInput(f"{file}: stage {index}: expected `- STAGE: {{option: value, ...}}`, found {entry!r}"[:300])
    if stage not in STAGES:
        raise BadInput(f"{file}: stage {index}: unknown stage {stage!r}; stages are {', '.join(STAGES)}")
    if not isinstance(options, dict):
        raise BadInput(f"{file}: stage {index} ({stage}): options must be a mapping, found {options!r}"[:300])
    return stage, {_key(k): v for k, v in options.items()}


def _key(key: object) -> str:
    """YAML 1.1 reads a bare `on:` key as true; `on` is the only such option name (dedupe --on)."""
    return "on" if key is True else "off" if key is False else str(key)


def _make_step(index: int, stage: str, options: dict, spec: CommandSpec, before: list[Step], run_dir: str,
               where: str) -> Step:
    options = {k: _subst(v, run_dir) for k, v in options.items()}
    name = options.pop("name", stage)
    if not isinstance(name, str) or not _NAME.match(name):
        raise BadInput(f"{where}: name {name!r}: use letters, digits, '.', '_' or '-'")
    inputs = _inputs(stage, options, spec, before, run_dir, where)
    output = _output(stage, name, options.pop("output", None), spec, run_dir, where)
    argv: list[str] = [stage, *inputs]
    if output is not None:
        argv += ["-o", output]
    argv += option_args(options, spec, where)
    return Step(index, stage, name, tuple(inputs), output, tuple(argv))


def _subst(value: object, run_dir: str) -> object:
    """`{run_dir}` in any string becomes the run directory; nothing else is templated (prompts keep `{}`)."""
    if isinstance(value, str):
        return value.replace(RUN_DIR, run_dir)
    if isinstance(value, list):
        return [_subst(v, run_dir) for v in value]
    return value


def _inputs(stage: str, options: dict, spec: CommandSpec, before: list[Step], run_dir: str,
            where: str) -> list[str]:
    """The stage's positional input: collect's sources, report's run dir, or an earlier stage's output."""
    argument = next((p for p in spec.values() if p.kind == "argument"), None)
    given = options.pop("input", None)
    if argument is not None and argument.name in options and argument.name != "input":
        if given is not None:
            raise BadInput(f"{where}: give either input or {argument.name}, not both")
        given = options.pop(argument.name)
    if argument is None:
        if given is not None:
            raise BadInput(f"{where}: `distill {stage}` takes no input")
        return []
    if given is None:
        return [_default_input(stage, before, run_dir, where)]
    values = given if isinstance(given, list) else [given]
    if not values or not all(isinstance(v, str) and v for v in values):
        raise BadInput(f"{where}: input: expected a path, a stage name or a list of paths, found {given!r}"[:300])
    if len(values) > 1 and not argument.variadic:
        raise BadInput(f"{where}: input: `distill {stage}` reads one input; use a glob such as "
                       f"'{run_dir}/gen-*/part-*.parquet' to read several stage directories")
    by_name = {s.name: s for s in before}
    resolved = []
    for v in values:
        ref = by_name.get(v)
        if ref is not None and ref.output is None:
            raise BadInput(f"{where}: input {v!r}: that stage writes no output to read")
        resolved.append(ref.output if ref is not None else v)
    return resolved


def _default_input(stage: str, before: list[Step], run_dir: str, where: str) -> str:
    if stage == "report":
        return run_dir
    for s in reversed(before):
        if s.writes_dir:
            return s.output  # type: ignore[return-value]  # writes_dir: output is set
    if stage == "collect":
        raise BadInput(f"{where}: sources: missing (e.g. sources: [prompts.jsonl, 'hf:openai/gsm8k:main'])")
    raise BadInput(f"{where}: input: missing; no earlier stage writes a stage directory to read")


def _output(stage: str, name: str, given: object, spec: CommandSpec, run_dir: str, where: str) -> str | None:
    if "output" not in spec:
        if given is not None:
            raise BadInput(f"{where}: `distill {stage}` takes no output")
        return None
    if given is not None:
        if not isinstance(given, str) or not given:
            raise BadInput(f"{where}: output: expected a path, found {given!r}")
        return given
    if stage in DIR_STAGES:
        return f"{run_dir.rstrip('/')}/{name}"
    if stage == "export":
        return f"{run_dir.rstrip('/')}/{name}.jsonl"
    return None  # report: the command's own default


def option_args(options: dict, spec: CommandSpec, where: str) -> list[str]:
    """YAML options -> flags: snake_case or kebab-case keys, lists repeated or comma-joined, booleans as toggles."""
    args: list[str] = []
    names = {alias: p for p in spec.values() for alias in p.aliases}
    names.update(spec)
    for key, value in options.items():
        param = names.get(key.replace("-", "_"))
        if param is None and key.endswith("s"):  # `engine_args:` for the repeated --engine-arg
            plural = names.get(key[:-1].replace("-", "_"))
            param = plural if plural is not None and plural.kind == "multiple" else None
        if param is None or param.kind == "argument":
            known = sorted(p.name for p in spec.values() if p.kind != "argument" and p.name != "output")
            raise BadInput(f"{where}: unknown option {key!r}; it takes: {', '.join(known) or 'no options'}")
        if value is None:
            continue
        args += _flag(param, value, f"{where}: {key}")
    return args


def _flag(param: Param, value: object, where: str) -> list[str]:
    assert param.flag is not None
    if param.kind in ("toggle", "switch"):
        if not isinstance(value, bool):
            raise BadInput(f"{where}: expected true or false, found {value!r}")
        if param.kind == "switch" and not value:
            return []
        return [param.flag if value else param.off_flag]  # type: ignore[list-item]  # toggles have both
    if isinstance(value, dict) and param.kind == "multiple":  # engine_args: {key: value} -> --engine-arg key=JSON
        return [x for k, v in value.items() for x in (param.flag, f"{k}={json.dumps(v)}")]
    if isinstance(value, dict):
        raise BadInput(f"{where}: expected a value or a list, found a mapping")
    if param.kind == "multiple":
        values = value if isinstance(value, list) else [value]
        return [x for v in values for x in (param.flag, _scalar(v, where))]
    if isinstance(value, list):
        return [param.flag, ",".join(_scalar(v, where) for v in value)]
    return [param.flag, _scalar(value, where)]


def _scalar(value: object, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    raise BadInput(f"{where}: expected a number or a string, found {value!r}"[:300])
