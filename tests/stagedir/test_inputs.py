from __future__ import annotations

import polars as pl
import pytest

from distill_cli.errors import BadInput
from distill_cli.stagedir.directory import StageDir
from distill_cli.stagedir.inputs import open_input


def test_directory_file_and_glob_resolve_to_the_same_rows(tmp_path):
    sd = StageDir(tmp_path / "d", "collect", {}, [], 2).open()
    sd.write_shard(0, pl.DataFrame({"id": ["a"], "prompt": ["p"]}))
    sd.write_shard(1, pl.DataFrame({"id": ["b"], "prompt": ["q"]}))
    sd.finish()
    assert open_input(str(tmp_path / "d")).total_rows == 2
    assert open_input(str(tmp_path / "d" / "part-00001.parquet")).total_rows == 1
    assert open_input(str(tmp_path / "d" / "part-*.parquet")).total_rows == 2
    assert open_input(str(tmp_path / "d")).upstream["stage"] == "collect"


def test_incomplete_stage_directory_is_refused(tmp_path):
    sd = StageDir(tmp_path / "d", "generate", {}, [], 2).open()
    sd.write_shard(0, pl.DataFrame({"id": ["a"]}))
    with pytest.raises(BadInput, match="incomplete"):
        open_input(str(tmp_path / "d"))


def test_corrupt_parquet_names_the_file(tmp_path):
    bad = tmp_path / "bad.parquet"
    pl.DataFrame({"a": list(range(1000))}).write_parquet(bad)
    bad.write_bytes(bad.read_bytes()[:-100])
    with pytest.raises(BadInput, match="bad.parquet: not a readable Parquet file"):
        open_input(str(bad))


def test_missing_and_mistyped_columns_are_named(tmp_path):
    f = tmp_path / "t.parquet"
    pl.DataFrame({"id": ["a"], "response": [3]}).write_parquet(f)
    inp = open_input(str(f))
    with pytest.raises(BadInput, match="missing column 'answer' needed by verify"):
        inp.require("verify", {"answer": pl.String})
    with pytest.raises(BadInput, match="column 'response' has type Int64, verify needs String"):
        inp.require("verify", {"response": pl.String})


def test_empty_and_missing_inputs(tmp_path):
    empty = tmp_path / "e.parquet"
    pl.DataFrame({"a": []}, schema={"a": pl.String}).write_parquet(empty)
    with pytest.raises(BadInput, match="no rows"):
        open_input(str(empty))
    with pytest.raises(BadInput, match="no such file"):
        open_input(str(tmp_path / "nope"))


def test_nulls_where_values_are_needed_are_named(tmp_path):
    f = tmp_path / "t.parquet"
    pl.DataFrame({"id": ["a", None, None], "prompt": ["x", "y", None]}).write_parquet(f)
    inp = open_input(str(f))
    with pytest.raises(BadInput, match="column 'id' has 2 null value"):
        inp.require("generate", {"prompt": pl.String})
    with pytest.raises(BadInput, match="column 'prompt' has 1 null value"):
        inp.require("generate", {"prompt": pl.String}, not_null=("prompt",))
