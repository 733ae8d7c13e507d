"""A complete stage with 0 rows is a valid input everywhere (issue 22, item 7).

The case from the issue, with real data: `dedupe --decontaminate gsm8k` on GSM8K prompts removes every row. Every
stage after it must write a complete, empty stage (a Makefile pipeline goes on), say "0 rows in", and export an
empty file; `inspect` shows the empty stage. Commands run in-process on the real app (typer's runner).
"""

from __future__ import annotations

import json

import polars as pl
import pytest
from support.cli import DEMO_DATA
from typer.testing import CliRunner

from distill_cli.cli import app


def _run(*args) -> str:
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, (args, result.exception, result.output)
    return " ".join(result.output.split())


@pytest.fixture(scope="module")
def empty(tmp_path_factory):
    root = tmp_path_factory.mktemp("empty")
    _run("collect", DEMO_DATA / "demo_gsm8k.jsonl", "-o", root / "prompts", "-q")
    said = _run("dedupe", root / "prompts", "-o", root / "clean", "--decontaminate", "gsm8k")
    assert "24 rows -> 0 kept" in said
    return root


def _complete_and_empty(path) -> dict:
    manifest = json.loads((path / "_manifest.json").read_text())
    assert manifest["complete"] is True and manifest["rows"] == 0
    shards = sorted(path.glob("part-*.parquet"))
    assert shards and sum(pl.read_parquet(s).height for s in shards) == 0
    return manifest


def test_inspect_shows_an_empty_complete_stage(empty):
    _complete_and_empty(empty / "clean")
    said = _run("inspect", empty / "clean")
    assert "rows=0" in said and "complete=True" in said


def test_every_stage_writes_a_complete_empty_stage_from_one(empty, tmp_path):
    chain = [("generate", empty / "clean", ["--backend", "openai", "--base-url", "http://127.0.0.1:9/v1",
                                            "--model", "m"]),
             ("verify", "generate", []), ("grade", "verify", []), ("select", "grade", ["--all"]),
             ("compress", "select", ["-s", "trim"]), ("dedupe", "compress", ["--exact"])]
    for stage, source, args in chain:
        src = source if not isinstance(source, str) else tmp_path / source
        said = _run(stage, src, "-o", tmp_path / stage, *args)
        assert f"{stage}: 0 rows in -> {tmp_path / stage}" in said, said
        _complete_and_empty(tmp_path / stage)
    said = _run("export", tmp_path / "dedupe", "-o", tmp_path / "sft.jsonl")
    assert "export: 0 rows in" in said
    assert (tmp_path / "sft.jsonl").read_text() == ""
