from __future__ import annotations

import json
import signal
import subprocess
import sys

import polars as pl
import pytest

from distill_cli.errors import StageConflict
from distill_cli.stagedir.checkpoint import ShardCheckpoint
from distill_cli.stagedir.directory import StageDir, merge_stats
from distill_cli.stagedir.inputs import open_input
from distill_cli.stagedir.runner import RunOptions, run_global, run_map


def _sd(path, params=None, digest="a", n=2):
    return StageDir(path, "verify", params or {"t": 1}, [{"path": "x", "digest": digest}], n)


def test_manifest_complete_only_when_every_shard_exists(tmp_path):
    sd = _sd(tmp_path / "out").open()
    sd.write_shard(0, pl.DataFrame({"a": [1, 2]}), {"verdicts": {"correct": 2}})
    assert sd.finish() is False
    assert json.loads((tmp_path / "out/_manifest.json").read_text())["complete"] is False
    sd.write_shard(1, pl.DataFrame({"a": [3]}), {"verdicts": {"correct": 1, "incorrect": 1}})
    assert sd.finish() is True
    manifest = json.loads((tmp_path / "out/_manifest.json").read_text())
    assert manifest["complete"] is True
    assert manifest["shards"] == {"part-00000.parquet": 2, "part-00001.parquet": 1}
    stats = json.loads((tmp_path / "out/_stats.json").read_text())
    assert stats["verdicts"] == {"correct": 3, "incorrect": 1}
    assert stats["rows_out"] == 3


def test_changed_params_or_inputs_conflict_unless_overwrite(tmp_path):
    sd = _sd(tmp_path / "out").open()
    sd.write_shard(0, pl.DataFrame({"a": [1]}))
    with pytest.raises(StageConflict, match="changed: t"):
        _sd(tmp_path / "out", params={"t": 2}).open()
    with pytest.raises(StageConflict, match="other inputs"):
        _sd(tmp_path / "out", digest="b").open()
    fresh = _sd(tmp_path / "out", params={"t": 2}).open(overwrite=True)
    assert not fresh.done(0)


def test_a_run_killed_before_its_first_manifest_does_not_block_the_rerun(tmp_path):
    """SIGKILL between the stage's mkdir and its first manifest rename leaves only the manifest's temp file."""
    out = tmp_path / "out"
    killed = subprocess.run([sys.executable, "-c", f"""if True:
        import os, signal
        from pathlib import Path
        from distill_cli.stagedir.atomic import temp_name
        out = Path({str(out)!r})
        out.mkdir()
        temp_name(out / "_manifest.json").write_text('{{"stage": "ver')
        os.kill(os.getpid(), signal.SIGKILL)
        """])
    assert killed.returncode == -signal.SIGKILL and [p.name for p in out.iterdir()][0].startswith(".")
    sd = _sd(out).open()
    assert sd.read_manifest()["complete"] is False and sorted(p.name for p in out.iterdir()) == ["_manifest.json"]
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("someone's file")
    with pytest.raises(StageConflict, match="not a distill stage directory"):
        _sd(tmp_path / "other").open()


def test_same_params_resume_keeps_finished_shards(tmp_path):
    _sd(tmp_path / "out").open().write_shard(0, pl.DataFrame({"a": [1]}))
    again = _sd(tmp_path / "out").open()
    assert again.done(0) and not again.done(1)


def test_non_stage_directory_is_refused(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    with pytest.raises(StageConflict, match="not a distill stage directory"):
        _sd(tmp_path / "out").open()


def test_merge_stats_sums_nested_numbers():
    total = merge_stats({}, {"a": 1, "b": {"c": 2}, "s": "x"})
    merge_stats(total, {"a": 2, "b": {"c": 3, "d": 1}, "s": "y"})
    assert total == {"a": 3, "b": {"c": 5, "d": 1}, "s": "y"}


def test_checkpoint_chunks_accumulate_and_report_keys(tmp_path):
    cp = ShardCheckpoint(tmp_path / "w")
    assert cp.load() is None and cp.done_keys(["id"]) == set()
    cp.append(pl.DataFrame({"id": ["a", "b"], "v": [1, 2]}))
    cp.append(pl.DataFrame({"id": ["c"], "v": [3]}))
    assert cp.load()["id"].to_list() == ["a", "b", "c"]
    assert cp.done_keys(["id"]) == {("a",), ("b",), ("c",)}
    assert not list((tmp_path / "w").glob(".*"))  # no temporary files left behind


def _input(tmp_path, n=10):
    src = tmp_path / "in.parquet"
    pl.DataFrame({"id": [f"{i:016x}" for i in range(n)], "x": list(range(n))}).write_parquet(src)
    return open_input(str(src))


def test_run_map_shards_limit_and_shard_selection(tmp_path):
    inp = _input(tmp_path)
    double = lambda df, task: (df.with_columns(y=pl.col("x") * 2), {"n": df.height})  # noqa: E731
    opts = RunOptions(out=tmp_path / "out", rows_per_shard=3, limit=8, shard=(1, 2))
    sd = run_map("double", inp, opts, {}, double)
    assert sorted(p.name for p in sd.path.glob("part-*")) == ["part-00001.parquet"]
    assert not json.loads((sd.path / "_manifest.json").read_text())["complete"]
    sd = run_map("double", inp, RunOptions(out=tmp_path / "out", rows_per_shard=3, limit=8, shard=(0, 2)), {}, double)
    out = pl.read_parquet(sd.path / "part-*.parquet")
    assert sorted(out["x"].to_list()) == list(range(8))
    assert json.loads((sd.path / "_manifest.json").read_text())["complete"]
    assert json.loads((sd.path / "_stats.json").read_text())["n"] == 8


def test_run_map_failure_on_fresh_dir_leaves_nothing(tmp_path):
    def boom(df, task):
        raise RuntimeError("crash")

    with pytest.raises(RuntimeError):
        run_map("x", _input(tmp_path), RunOptions(out=tmp_path / "out"), {}, boom)
    assert not (tmp_path / "out").exists()


def test_run_global_partitions_by_id(tmp_path):
    inp = _input(tmp_path, 50)
    compute = lambda lf, opts: (lf.collect(), {})  # noqa: E731
    seen = []
    for i in range(3):
        sd = run_global("g", inp, RunOptions(out=tmp_path / "out", shard=(i, 3)), {}, compute)
        seen += pl.read_parquet(sd.shard_path(i))["x"].to_list()
    assert sorted(seen) == list(range(50))
    assert json.loads((sd.path / "_manifest.json").read_text())["complete"]


def test_failure_after_a_checkpoint_keeps_the_saved_chunks(tmp_path):
    def save_then_crash(df, task):
        task.checkpoint.append(df.head(3))
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_map("x", _input(tmp_path), RunOptions(out=tmp_path / "out"), {}, save_then_crash)
    assert ShardCheckpoint(tmp_path / "out/_work/part-00000").load().height == 3
