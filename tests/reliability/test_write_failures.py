"""A full disk or a read-only output gives a clear error and leaves nothing corrupt or complete-looking."""

from __future__ import annotations

import contextlib
import json
import subprocess

import polars as pl
import pytest
from support.cli import distill


@contextlib.contextmanager
def mounted_tmpfs(path, options):
    path.mkdir()
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True)
    if res.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {res.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _big_jsonl(path, n=60_000):
    with open(path, "w") as fh:
        for i in range(n):
            fh.write(json.dumps({"question": f"Problem {i}: {'lorem ipsum dolor ' * 8} what is {i}+1?",
                                 "answer": str(i + 1)}) + "\n")
    return path


def test_disk_full_is_a_clear_error_and_no_partial_shard(tmp_path):
    src = _big_jsonl(tmp_path / "in.jsonl")
    with mounted_tmpfs(tmp_path / "small", "size=512k") as disk:
        out = disk / "prompts"
        res = distill("collect", src, "-o", out, "--rows-per-shard", "5000")
        assert res.returncode == 1, res.stderr
        line = res.stderr.strip().splitlines()
        assert len(line) == 1 and line[0].startswith("Error: cannot write") and "No space left on device" in line[0]
        if (out / "_manifest.json").exists():
            assert not json.loads((out / "_manifest.json").read_text())["complete"]
        for shard in out.glob("part-*.parquet"):  # whatever is visible is whole
            assert pl.read_parquet(shard).height == 5000


def test_read_only_output_is_a_clear_error(tmp_path):
    src = _big_jsonl(tmp_path / "in.jsonl", 10)
    with mounted_tmpfs(tmp_path / "ro", "size=1m,ro") as ro:
        res = distill("collect", src, "-o", ro / "prompts")
        assert res.returncode == 1
        line = res.stderr.strip().splitlines()
        assert len(line) == 1 and "Read-only file system" in line[0] and str(ro / "prompts") in line[0], res.stderr
        assert not (ro / "prompts").exists()
