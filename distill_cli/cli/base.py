"""The one typer app; each command module adds its command to it, imported only when that command is needed.

`distill --help` lists every command but runs none, so it should not pay for building sixteen commands' options
(typer inspects every signature and makes every click parameter: most of the start-up time). The group below
lists the commands from SUMMARIES (a test checks each line equals the command's docstring's first line) and
imports and builds a command only when it is run, completed or asked for its own --help.
"""

from __future__ import annotations

import importlib
import sys
import types
from difflib import get_close_matches

import typer
from typer import main as typer_main
from typer.core import TyperCommand, TyperGroup

# every command in the order `distill --help` lists them, with its one-line help
SUMMARIES = {
    "collect": "Collect prompts with reference answers from local files and Hugging Face datasets.",
    "generate": "Generate n teacher traces per prompt; resumes a killed run without re-sending finished samples.",
    "verify": "Verify each trace's final answer: math (math-verify, numeric), multiple choice, code in a sandbox.",
    "grade": "Grade each prompt's difficulty per model by pass rate and coefficient of variation of verify scores.",
    "select": "Select traces by difficulty, pass rate, CV or length; sample a difficulty mix; keep K per prompt or "
              "DPO pairs.",
    "compress": "Shorten correct traces (trim, dedupe-reflections, first-correct, max-tokens, rewrite) and "
                "re-verify them.",
    "filter": "Drop truncated, unclosed, looping, language-switching, self-contradicting and refusing traces.",
    "dedupe": "Remove benchmark-contaminated prompts, then exact and near duplicates; list every removed row.",
    "export": "Write traces as SFT (messages, ShareGPT, Alpaca) or DPO (TRL) training data, with a dataset card.",
    "score": "Score traces under a model: per trace token count, sum and mean logprob, perplexity, and the top-K.",
    "run": "Run a pipeline file's stages in order, skipping finished stages and resuming unfinished ones.",
    "plan": "Count prompts and tokens, estimate cost and wall time of every generate step; write no stage output.",
    "inspect": "Rows, shards, columns with types, manifest params, stats and a few sample rows of any stage output.",
    "report": "HTML report of a run: verdicts, pass rates, difficulty, lengths, compression, dedupe, rows per stage.",
    "view": "Browse a run's traces in a local web page: stages, filters, one prompt's samples, math rendered.",
    "model": "Build and locate the bundled demo model.",
}


class LazyGroup(TyperGroup):
    """A group that knows its commands by name and builds one only when it is used."""

    summaries_only = False  # while listing: a command's name and one-line help are all that is shown

    def list_commands(self, ctx) -> list[str]:
        return list(dict.fromkeys([*SUMMARIES, *self.commands]))

    def get_command(self, ctx, cmd_name: str):
        if cmd_name in self.commands or cmd_name not in SUMMARIES:
            return self.commands.get(cmd_name)
        if self.summaries_only:
            return TyperCommand(name=cmd_name, help=SUMMARIES[cmd_name])
        self.add_command(build(cmd_name), cmd_name)
        return self.commands[cmd_name]

    def _listing(self, show, *args):
        """Run typer's help or completion with stand-ins that carry only a name and a one-line help."""
        self.summaries_only = True
        try:
            return show(*args)
        finally:
            self.summaries_only = False

    def format_help(self, ctx, formatter) -> None:
        import_rich_help()
        self._listing(super().format_help, ctx, formatter)

    def shell_complete(self, ctx, incomplete: str):
        return self._listing(super().shell_complete, ctx, incomplete)

    def resolve_command(self, ctx, args: list[str]):
        """As typer's, but a mistyped name is matched against every command, not only the ones built."""
        try:
            return super().resolve_command(ctx, args)
        except Exception as exc:  # click's UsageError (typer may carry its own click: duck-typed)
            message = getattr(exc, "message", None)
            if isinstance(message, str) and args and "Did you mean" not in message:
                matches = get_close_matches(args[0], self.list_commands(ctx))
                if matches:
                    exc.message = f"{message.rstrip('.')}. Did you mean {', '.join(map(repr, matches))}?"
            raise


app = typer.Typer(
    name="distill",
    cls=LazyGroup,
    help="Build reasoning-trace distillation datasets: collect, generate, verify, grade, select, compress, "
    "dedupe, export. Every stage reads and writes a stage directory of Parquet shards and resumes after a kill.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def build(name: str):
    """Import a command's module (it registers the command on `app`) and make its click command."""
    importlib.import_module(f"distill_cli.cli.{name}")
    for info in app.registered_commands:
        if (info.name or typer_main.get_command_name(info.callback.__name__)) == name:
            return typer_main.get_command_from_info(info, pretty_exceptions_short=app.pretty_exceptions_short,
                                                    rich_markup_mode=app.rich_markup_mode)
    group = next(g.typer_instance for g in app.registered_groups if g.name == name)
    return typer_main.get_group(group)


def import_rich_help() -> None:
    """Import typer's rich help renderer without rich.markdown and rich.traceback (about a third of its import
    time: markdown_it, pygments-style syntax tables). It imports one name from each at its top, used only with
    rich_markup_mode="markdown" and with pretty exceptions, neither of which distill uses; while it is imported
    those two modules are stand-ins whose names import the real module on first use, and are then taken out of
    sys.modules so any later `import rich.markdown` gets the real one."""
    if "typer.rich_utils" in sys.modules:
        return
    stand_ins = {}
    for mod, attr in (("rich.markdown", "Markdown"), ("rich.traceback", "Traceback")):
        if mod not in sys.modules:
            stand_ins[mod] = sys.modules[mod] = types.ModuleType(mod)
            setattr(stand_ins[mod], attr, _Deferred(attr, (), {"_module": mod}))
    try:
        importlib.import_module("typer.rich_utils")
    finally:
        for mod, stand_in in stand_ins.items():
            if sys.modules.get(mod) is stand_in:
                del sys.modules[mod]


class _Deferred(type):
    """A class standing in for rich's Markdown or Traceback: calling it or reading an attribute imports the real
    one (and it still works in the `Text | Markdown` annotations typer evaluates)."""

    def _real(cls):
        return getattr(importlib.import_module(cls._module), cls.__name__)

    def __call__(cls, *args, **kwargs):
        return cls._real()(*args, **kwargs)

    def __getattr__(cls, attr: str):
        if attr.startswith("__"):
            raise AttributeError(attr)
        return getattr(cls._real(), attr)
