"""Every stage refuses bad input with one line naming the problem, exit 2, and leaves nothing that looks complete."""

from __future__ import annotations

import json

import polars as pl
import pytest
from damage import graded_rows, write_stage_dir
from support.cli import distill

# stage -> (argv after IN and -o OUT, the column whose loss or damage it must notice)
STAGES = {
    "generate": (["--backend", "openai", "--base-url", "http://127.0.0.1:9/v1", "--model", "m"], "prompt"),
    "verify": ([], "response"),
    "grade": ([], "verdict"),
    "select": (["--by", "difficulty", "--keep", "medium"], "difficulty"),
    "compress": (["--strategy", "trim"], "response"),  # reasoning may be absent: a non-thinking model has none
    "dedupe": (["--exact"], "prompt"),
    "export": (["--format", "sft"], "response"),
}


def _out(stage, tmp_path):
    return tmp_path / ("out.jsonl" if stage == "export" else "out")


def _assert_refused(res, out, *phrases):
    assert res.returncode == 2, (res.returncode, res.stdout[-500:], res.stderr[-2000:])
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), res.stderr[-2000:]
    for phrase in phrases:
        assert phrase in lines[0], lines[0]
    manifest = out / "_manifest.json"
    assert not out.exists() or (out.is_dir() and (not manifest.exists() or
                                                   not json.loads(manifest.read_text())["complete"]))


def _run(stage, src, tmp_path):
    args, _ = STAGES[stage]
    out = _out(stage, tmp_path)
    return distill(stage, src, "-o", out, *args, timeout=120), out


@pytest.mark.parametrize("stage", STAGES)
def test_missing_column(stage, tmp_path):
    column = STAGES[stage][1]
    src = write_stage_dir(tmp_path / "in", graded_rows().drop(column))
    res, out = _run(stage, src, tmp_path)
    _assert_refused(res, out, f"'{column}'")


@pytest.mark.parametrize("stage", STAGES)
def test_wrong_type(stage, tmp_path):
    column = STAGES[stage][1]
    src = write_stage_dir(tmp_path / "in", graded_rows().with_columns(pl.lit(7).alias(column)))
    res, out = _run(stage, src, tmp_path)
    _assert_refused(res, out, f"'{column}'")


@pytest.mark.parametrize("stage", STAGES)
def test_null_ids(stage, tmp_path):
    df = graded_rows()
    src = write_stage_dir(tmp_path / "in", df.with_columns(
        pl.when(pl.int_range(df.height) == 3).then(None).otherwise(pl.col("id")).alias("id")))
    res, out = _run(stage, src, tmp_path)
    _assert_refused(res, out, "'id'", "null")


@pytest.mark.parametrize("stage", STAGES)
def test_empty_input(stage, tmp_path):
    """An empty Parquet file is refused; an empty *complete stage* is a valid input (issue 22, item 7)."""
    src = tmp_path / "empty.parquet"
    graded_rows().head(0).write_parquet(src)
    res, out = _run(stage, src, tmp_path)
    _assert_refused(res, out, "no rows")
    stage_dir = write_stage_dir(tmp_path / "in", graded_rows().head(0))
    res, out = _run(stage, stage_dir, tmp_path)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "0 rows in" in " ".join(res.stderr.split())
    if stage == "export":
        assert out.read_text() == ""
    else:
        assert json.loads((out / "_manifest.json").read_text())["complete"] is True


@pytest.mark.parametrize("stage", STAGES)
def test_truncated_shard(stage, tmp_path):
    src = write_stage_dir(tmp_path / "in", graded_rows())
    shard = src / "part-00000.parquet"
    shard.write_bytes(shard.read_bytes()[:-300])
    res, out = _run(stage, src, tmp_path)
    _assert_refused(res, out, "part-00000.parquet")


@pytest.mark.parametrize("stage", STAGES)
def test_non_utf8_text_column(stage, tmp_path):
    column = STAGES[stage][1]
    df = graded_rows()
    src = write_stage_dir(tmp_path / "in", df.with_columns(pl.Series(column, [b"caf\xe9"] * df.height)))
    res, out = _run(stage, src, tmp_path)
    _assert_refused(res, out, f"'{column}'")


@pytest.mark.parametrize("stage", [s for s in STAGES if s != "export"])
def test_output_holding_another_stage(stage, tmp_path):
    src = write_stage_dir(tmp_path / "in", graded_rows())
    out = write_stage_dir(tmp_path / "out", graded_rows(), stage="collect")
    args, _ = STAGES[stage]
    res = distill(stage, src, "-o", out, *args, timeout=120)
    assert res.returncode == 2 and "holds the output of `collect`" in res.stderr, res.stderr[-2000:]
    assert json.loads((out / "_manifest.json").read_text())["stage"] == "collect"  # left as it was


def test_ten_megabyte_prompt_is_refused_by_collect(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"question": "x" * 10_000_000, "answer": "1"}) + "\n")
    res = distill("collect", src, "-o", tmp_path / "out")
    _assert_refused(res, tmp_path / "out", "prompt_too_long")
