"""Atomic writes: temp names, cleaning what killed writers left, streamed files and swapped-in directories."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from distill_cli.stagedir.atomic import remove_stale_temps, replace_dir, sink_file, temp_name


def _dead_pid() -> int:
    """The pid of a process that has exited (a real one, so the check is the one a killed writer gets)."""
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


def _like(path: Path, pid: int, role: str = "tmp") -> Path:
    mine = temp_name(path, role)
    return mine.with_name(mine.name.rsplit("-", 1)[0] + f"-{pid}")


def test_stale_temps_of_dead_writers_go_and_live_or_foreign_ones_stay(tmp_path):
    dead = _dead_pid()
    stale_file = _like(tmp_path / "part-00000.parquet", dead)
    stale_dir = _like(tmp_path / "sub" / "sft", dead, "old")
    live = temp_name(tmp_path / "part-00001.parquet")  # this process is alive
    foreign = tmp_path / f".part-00002.parquet.tmp-otherhost-{dead}"  # another host may share the directory
    user = tmp_path / ".notes.tmp-mine"  # not a name distill makes
    stale_dir.mkdir(parents=True)
    (stale_dir / "data.arrow").write_text("x")
    for f in (stale_file, live, foreign, user):
        f.write_text("x")
    assert remove_stale_temps(tmp_path) == 1  # rglob finds `.*.tmp-*`: the file; the `.old-` dir is replace_dir's
    assert not stale_file.exists() and live.exists() and foreign.exists() and user.exists() and stale_dir.exists()


@pytest.mark.parametrize("kind", ["jsonl", "parquet"])
def test_sink_file_writes_whole_and_clears_what_a_killed_export_left(tmp_path, kind):
    path = tmp_path / f"sft.{kind}"
    left = _like(path, _dead_pid())
    left.write_text("half a file")
    sink_file(pl.LazyFrame({"a": [1, 2, 3]}), path, kind)
    got = [json.loads(line)["a"] for line in path.read_text().splitlines()] if kind == "jsonl" \
        else pl.read_parquet(path)["a"].to_list()
    assert got == [1, 2, 3]
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_replace_dir_swaps_in_the_new_directory_and_a_failed_fill_keeps_the_old(tmp_path):
    path = tmp_path / "ds"
    dead = _dead_pid()
    for role in ("tmp", "old"):  # a kill between the two renames leaves both behind
        _like(path, dead, role).mkdir()
    replace_dir(path, lambda d: (d.mkdir(), (d / "v").write_text("1")))
    replace_dir(path, lambda d: (d.mkdir(), (d / "v").write_text("2")))
    assert (path / "v").read_text() == "2" and sorted(p.name for p in tmp_path.iterdir()) == ["ds"]

    def broken(d: Path) -> None:
        d.mkdir()
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        replace_dir(path, broken)
    assert (path / "v").read_text() == "2" and sorted(p.name for p in tmp_path.iterdir()) == ["ds"]
