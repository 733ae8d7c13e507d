"""Shard tasks of one stage started at the same moment (a Slurm array) into a fresh output directory.

Each task may find the directory a sibling has just made, with its manifest not yet written; one task creates the
manifest and every other checks it; the task that writes the last shard marks the stage complete and no sibling
may mark it incomplete again afterwards.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from distill_cli.errors import StageConflict
from distill_cli.stagedir.atomic import temp_name
from distill_cli.stagedir.directory import StageDir

TASKS, TRIALS = 4, 8

# One real `distill verify --shard I/N` process per task. Each runs every trial, and before each trial waits at a
# barrier (a file per task and trial) until all tasks are there, so the N tasks of a trial start within a
# millisecond or so of each other: tighter than a Slurm array, where the race was seen 1 time in 3.
TASK = """if True:
    import os, sys, time
    from pathlib import Path
    from distill_cli import cli

    src, root, index, tasks, trials = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), \\
        int(sys.argv[5])
    cli.load(("verify",))
    for trial in range(trials):
        gate = root / f"gate-{trial}"
        gate.mkdir(exist_ok=True)
        (gate / str(index)).touch()
        deadline = time.monotonic() + 120
        while len(os.listdir(gate)) < tasks and time.monotonic() < deadline:
            time.sleep(0.0005)
        sys.argv = ["distill", "verify", src, "-o", str(root / f"out-{trial}"), "--shard", f"{index}/{tasks}",
                    "--rows-per-shard", "1", "-q"]
        print(f"== trial {trial}", file=sys.stderr, flush=True)
        try:
            cli.main()
        except SystemExit as exc:
            code = exc.code or 0
        else:
            code = 0
        print(f"{trial} {code}", flush=True)
"""


def _traces(path: Path) -> Path:
    pl.DataFrame({"id": [f"q{i}" for i in range(TASKS)], "prompt": ["What is 1 + 1?"] * TASKS,
                  "response": [f"\\boxed{{{i}}}" for i in range(TASKS)], "answer": ["2"] * TASKS,
                  "domain": ["math"] * TASKS}).write_parquet(path)
    return path


@pytest.mark.slow
def test_shard_tasks_started_together_all_succeed_and_complete_the_stage(tmp_path):
    src = _traces(tmp_path / "traces.parquet")
    procs = [subprocess.Popen([sys.executable, "-c", TASK, str(src), str(tmp_path), str(i), str(TASKS),
                               str(TRIALS)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(TASKS)]
    results = [p.communicate(timeout=600) for p in procs]
    for (out, err), proc in zip(results, procs, strict=True):
        codes = dict(line.split() for line in out.splitlines())
        assert proc.returncode == 0 and set(codes.values()) == {"0"} and len(codes) == TRIALS, err[-3000:]
    for trial in range(TRIALS):
        out = tmp_path / f"out-{trial}"
        manifest = json.loads((out / "_manifest.json").read_text())
        assert manifest["complete"] is True, (trial, manifest)
        assert manifest["rows"] == TASKS and len(manifest["shards"]) == TASKS
        assert pl.read_parquet(sorted(out.glob("part-*.parquet")))["id"].sort().to_list() == \
            [f"q{i}" for i in range(TASKS)]
        assert sorted(p.name for p in out.iterdir()) == ["_manifest.json", "_stats.json", *manifest["shards"]]


def _sd(path: Path, params: dict | None = None) -> StageDir:
    return StageDir(path, "verify", params or {"t": 1}, [{"path": "x", "digest": "a"}], 2)


def test_a_directory_a_sibling_is_still_creating_is_joined_not_refused(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    # what a sibling task leaves between its mkdir and its manifest: the manifest's temp file (a live writer: us)
    temp_name(out / "_manifest.json").write_text('{"stage": "ver')
    sd = _sd(out).open()
    assert json.loads((out / "_manifest.json").read_text())["params"] == {"t": 1}
    # the sibling's rename then lands, the same run: a third task still joins, and a different run is refused
    assert _sd(out).open().was_complete is False
    with pytest.raises(StageConflict, match="changed: t 1 -> 2"):
        _sd(out, {"t": 2}).open()
    sd.write_shard(0, pl.DataFrame({"a": [1]}))
    assert sd.finish() is False


def test_a_foreign_directory_is_still_refused(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(StageConflict, match="not a distill stage directory"):
        _sd(out).open()
    assert (out / "notes.txt").read_text() == "mine" and not (out / "_manifest.json").exists()


def test_an_unfinished_sibling_never_marks_a_complete_stage_incomplete(tmp_path):
    out = tmp_path / "out"
    first, second = _sd(out).open(), _sd(out).open()
    first.write_shard(0, pl.DataFrame({"a": [1]}))
    second.write_shard(1, pl.DataFrame({"a": [2]}))
    assert second.finish() is True
    # the first task looked for missing shards before the second wrote its shard and only now gets to finish:
    # it must not write its stale view (complete: false) over the finished manifest
    first.n_shards = 3  # its stale view: a shard still missing
    assert first.finish() is False
    assert json.loads((out / "_manifest.json").read_text())["complete"] is True
