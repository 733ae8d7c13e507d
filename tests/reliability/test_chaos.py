"""The crash-resume harness (scripts/chaos.py, `make chaos` runs it longer) over every stage but the vLLM engine."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
from chaos import chaos, kill_while_spilling  # noqa: E402


@pytest.mark.slow
def test_every_stage_survives_random_sigkills_without_loss_or_duplication():
    results = chaos(trials=1, max_kills=2, seed=7, quiet=True, prompts=200)  # `make chaos`: 600, more trials
    assert [r["stage"] for r in results] == ["collect", "generate", "verify", "grade", "select", "compress",
                                             "dedupe", "export"]
    assert sum(r["kills"] for r in results) >= len(results), "the harness must actually kill the runs"
    for r in results:
        assert r["rows"] > 0
        assert (r["lost"], r["extra"], r["duplicated"], r["values_equal"]) == (0, 0, 0, True), r


@pytest.mark.slow
def test_dedupe_killed_while_its_minhash_state_is_on_disk_loses_nothing(tmp_path):
    r = kill_while_spilling(tmp_path, rows=40_000, kills=2)
    assert r["kills"] == 2, "each kill must land while a spilled band file holds bytes"
    assert r["removed"] > 3000  # the planted near duplicates (a tenth of the rows) are found
    assert (r["lost"], r["extra"], r["duplicated"], r["values_equal"], r["duplicates_equal"]) == (0, 0, 0, True, True)
    assert r["leftovers"] == []  # the killed runs' spill directories are swept by the run that finishes
