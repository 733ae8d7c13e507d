"""`distill --help` lists every command without building any (cli/base.py's LazyGroup and its SUMMARIES table);
the table must say what each command's own docstring says, and nothing the lazy group skips may be missing from
what a user sees: every command in the list, a mistyped name's suggestion, the rich help renderer still whole.

The start-up time itself is measured by `make bench-startup`, not here.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import typer
from support.cli import distill

from distill_cli.cli import load
from distill_cli.cli.base import SUMMARIES


def _plain(text: str) -> str:
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


def test_the_summary_table_is_each_commands_first_docstring_line():
    group = typer.main.get_command(load())
    assert set(group.commands) == set(SUMMARIES)
    for name, summary in SUMMARIES.items():
        first = (group.commands[name].help or "").strip().splitlines()[0]
        assert first == summary, name


def test_top_level_help_lists_every_command_and_imports_none_of_them():
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "distill_cli", "--help"], capture_output=True,
                          text=True, env={**os.environ, "COLUMNS": "200"}, timeout=120)
    assert done.returncode == 0, done.stderr
    shown = _plain(done.stdout)
    for name, summary in SUMMARIES.items():
        assert f"{name} {summary}" in shown, name
    imported = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines() if "|" in line}
    built = sorted(m for m in imported if m.startswith(("distill_cli.cli.", "distill_cli.stages")))
    assert built == ["distill_cli.cli.base"], built
    assert "rich.markdown" not in imported and "rich.traceback" not in imported


def test_a_mistyped_command_is_matched_against_every_command():
    res = distill("genrate", env={"COLUMNS": "200"})
    assert res.returncode == 2
    assert "No such command 'genrate'. Did you mean 'generate', 'grade'?" in _plain(res.stderr), res.stderr


def test_the_rich_help_renderer_imported_without_markdown_still_renders_markdown():
    code = """
import sys
from distill_cli.cli.base import import_rich_help
import_rich_help()
assert "rich.markdown" not in sys.modules and "rich.traceback" not in sys.modules
import typer.rich_utils as ru
import rich.markdown, rich.traceback
assert rich.markdown.__file__ and rich.traceback.__file__
assert type(ru.Markdown("**x**")) is rich.markdown.Markdown
try:
    raise ValueError("boom")
except ValueError as exc:
    assert isinstance(ru.Traceback.from_exception(type(exc), exc, exc.__traceback__), rich.traceback.Traceback)
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "ok", done.stderr
