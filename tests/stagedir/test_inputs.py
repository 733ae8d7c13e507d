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


def test_stream_yields_what_scan_then_filter_yields_a_batch_at_a_time(tmp_path):
    """stream(limit, where, rows) == scan(limit).filter(where)[rows], across files, row groups and a cast column."""
    import numpy as np

    pl.DataFrame({"id": [f"{i:04x}" for i in range(250)], "prompt": [f"p{i}" for i in range(250)],
                  "sample": list(range(250))}).write_parquet(tmp_path / "a.parquet", row_group_size=40)
    pl.DataFrame({"id": [f"{i:04x}" for i in range(250, 400)], "prompt": [f"p{i}" for i in range(250, 400)],
                  "sample": pl.Series(range(250, 400), dtype=pl.Int32)}).write_parquet(tmp_path / "b.parquet")
    inp = open_input(str(tmp_path / "*.parquet"))
    where = pl.col("sample") % 3 != 0
    expected = inp.scan(330).filter(where).collect()
    rows = np.array([0, 1, 5, 100, 150, 170, 171, expected.height - 1])
    streamed = list(inp.stream(32, limit=330, where=where, rows=rows))
    assert max(f.height for f in streamed) <= 32
    assert pl.concat(streamed).equals(expected[rows])
    assert pl.concat(inp.stream(64)).equals(inp.scan().collect())


def test_stream_of_chosen_rows_reads_row_groups_and_yields_them_in_order(tmp_path):
    """stream(rows=...) without a filter reads only the row groups that hold chosen rows, in batches, in order."""
    import numpy as np

    pl.DataFrame({"id": [f"{i:04x}" for i in range(250)], "sample": list(range(250))}).write_parquet(
        tmp_path / "a.parquet", row_group_size=40)
    pl.DataFrame({"id": [f"{i:04x}" for i in range(250, 400)],
                  "sample": pl.Series(range(250, 400), dtype=pl.Int32)}).write_parquet(tmp_path / "b.parquet")
    inp = open_input(str(tmp_path / "*.parquet"))
    everything = inp.scan().collect()
    rows = np.array([0, 1, 39, 40, 41, 120, 249, 250, 251, 300, 329, 330, 399])
    streamed = list(inp.stream(3, rows=rows))
    assert max(f.height for f in streamed) <= 3 and pl.concat(streamed).equals(everything[rows])
    assert pl.concat(inp.stream(5, limit=330, rows=rows)).equals(everything[rows[rows < 330]])
    assert pl.concat(inp.stream(5, rows=rows, columns=["sample"])).equals(everything.select("sample")[rows])
    assert list(inp.stream(5, rows=np.array([], dtype=np.int64))) == []
