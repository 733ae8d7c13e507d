"""distill dedupe through the real command: shards, side tables, resume, conflicts and user errors."""

from __future__ import annotations

import json

import polars as pl
import pyarrow.parquet as pq
import pytest
from support.cli import BENCHMARKS, distill

from distill_cli.stages.dedupe import CONTAMINATION_SCHEMA, DUPLICATES_SCHEMA


def _traces(path, with_score=True):
    """A small trace dataset: 2 samples per prompt; a duplicate prompt, a near duplicate, a benchmark copy."""
    gsm = json.loads((BENCHMARKS / "gsm8k_test.jsonl").read_text().splitlines()[12])["question"]
    long = ("A farmer has a rectangular field that is twice as long as it is wide and the perimeter of the field "
            "is three hundred meters in total so what is the area of the field in square meters")
    prompts = {"a": long, "b": long.upper() + "!", "c": long.replace("farmer", "rancher"),
               "d": f"Solve carefully: {gsm}", "e": "Write a function that reverses a string."}
    rows = [{"id": k, "prompt": p, "sample": s, "model": "m", "response": f"r{s}", "score": float(k == "c")}
            for k, p in prompts.items() for s in range(2)]
    df = pl.DataFrame(rows)
    (df if with_score else df.drop("score")).write_parquet(path)
    return path


def test_dedupe_end_to_end_writes_side_tables_and_resumes(tmp_path):
    src = _traces(tmp_path / "traces.parquet")
    out = tmp_path / "deduped"
    args = ["dedupe", src, "-o", out, "--exact", "--near", "0.7", "--decontaminate", "all", "--keep", "best-score"]
    res = distill(*args)
    assert res.returncode == 0, res.stderr
    assert "removed 2 contaminated (gsm8k 2), 2 exact and 2 near duplicates" in " ".join(res.stderr.split())
    kept = pl.read_parquet(out / "part-*.parquet")
    assert kept.select("id", "sample").rows() == [("c", 0), ("c", 1), ("e", 0), ("e", 1)]
    dups = pl.read_parquet(out / "_duplicates.parquet")
    assert dups.schema == pl.Schema(DUPLICATES_SCHEMA)
    # best-score: c (score 1) is kept; a is its near duplicate, b an exact copy of a (settled first, keeps a)
    assert dups.select("id", "sample", "kind", "kept_id").rows() == [
        ("a", 0, "near", "c"), ("a", 1, "near", "c"), ("b", 0, "exact", "a"), ("b", 1, "exact", "a")]
    cont = pl.read_parquet(out / "_contamination.parquet")
    assert cont.schema == pl.Schema(CONTAMINATION_SCHEMA)
    assert cont.select("id", "benchmark", "bench_index", "match").rows() == [("d", "gsm8k", 12, "ngram")] * 2
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["complete"] and manifest["rows"] == 4
    assert manifest["params"]["bands"] == 32 and manifest["params"]["rows"] == 4  # chosen for 0.7
    # the same run again is a no-op; other params are a conflict
    assert distill(*args).returncode == 0
    again = distill(*args[:-1], "first")
    assert again.returncode == 2 and "changed: keep" in again.stderr


def test_nothing_removed_still_writes_empty_side_tables(tmp_path):
    src = tmp_path / "p.parquet"
    pl.DataFrame({"id": ["x", "y"], "prompt": ["one prompt here", "another prompt there"]}).write_parquet(src)
    res = distill("dedupe", src, "-o", tmp_path / "out", "-q")
    assert res.returncode == 0, res.stderr
    for name, schema in (("_duplicates", DUPLICATES_SCHEMA), ("_contamination", CONTAMINATION_SCHEMA)):
        table = pq.read_table(tmp_path / "out" / f"{name}.parquet")
        assert table.num_rows == 0 and pl.from_arrow(table).schema == pl.Schema(schema)
    assert json.loads((tmp_path / "out" / "_manifest.json").read_text())["params"]["exact"] is True


def test_shards_write_their_own_side_tables(tmp_path):
    src = _traces(tmp_path / "traces.parquet")
    out = tmp_path / "deduped"
    for i in range(2):
        res = distill("dedupe", src, "-o", out, "--near", "0.7", "--shard", f"{i}/2", "-q")
        assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in out.glob("_duplicates*")) == ["_duplicates-part-00000.parquet",
                                                               "_duplicates-part-00001.parquet"]
    assert json.loads((out / "_manifest.json").read_text())["complete"]
    kept = pl.read_parquet(out / "part-*.parquet")
    removed = pl.read_parquet(out / "_duplicates-part-*.parquet")
    assert kept.height + removed.height == 10


@pytest.mark.parametrize("extra, message", [
    (["--keep", "best-score"], "needs a 'score' column"),
    (["--decontaminate", "math5000"], "not a bundled benchmark"),
    (["--near", "0.8", "--bands", "20", "--rows", "8"], "exceeds --num-perm 128"),
    (["--on", "answer"], "--on 'answer'"),
    (["--bands", "4"], "pass --near THRESHOLD too"),
])
def test_user_errors_are_one_line_and_leave_nothing(tmp_path, extra, message):
    src = _traces(tmp_path / "traces.parquet", with_score=False)
    res = distill("dedupe", src, "-o", tmp_path / "out", *extra)
    assert res.returncode == 2
    assert res.stderr.strip().startswith("Error:") and message in res.stderr and len(res.stderr.splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_missing_prompt_column_names_file_and_column(tmp_path):
    src = tmp_path / "x.parquet"
    pl.DataFrame({"question": ["q"]}).write_parquet(src)
    res = distill("dedupe", src, "-o", tmp_path / "out")
    assert res.returncode == 2 and "x.parquet: missing column 'prompt'" in res.stderr


def test_kept_rows_stream_into_shards_of_rows_per_shard_in_input_order(tmp_path):
    """The kept rows reach the shards in batches; shards are still cut at --rows-per-shard, in input order."""
    prompts = [f"problem number {i} asks for the sum of {i} and {i + 1} apples" for i in range(10)]
    prompts[4] = prompts[1]  # an exact duplicate: row 4 goes
    src = tmp_path / "in.parquet"
    pl.DataFrame({"id": [f"p{i}" for i in range(10)], "prompt": prompts}).write_parquet(src)
    out = tmp_path / "deduped"
    res = distill("dedupe", src, "-o", out, "--exact", "--rows-per-shard", "4", "-q")
    assert res.returncode == 0, res.stderr
    shards = sorted(out.glob("part-*.parquet"))
    assert [pl.read_parquet(s).height for s in shards] == [4, 4, 1]
    kept = pl.concat([pl.read_parquet(s) for s in shards])
    assert kept["id"].to_list() == [f"p{i}" for i in range(10) if i != 4]
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["complete"] and manifest["stats"]["removed"]["exact"] == 1
    assert not list(out.glob(".*"))  # no spill directory or temp file left behind
