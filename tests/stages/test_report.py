"""report data: stages found by manifest, upstream chains, and the exact numbers each figure is drawn from."""

from __future__ import annotations

import json
import shutil

import polars as pl
import pytest
from fake_run import MODELS, PROMPTS, SAMPLES, make_run, n_correct

from distill_cli.report import data as rd
from distill_cli.report.summary import gather


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("run"))


def test_find_stages_by_manifest_in_pipeline_order(fake):
    stages = rd.find_stages(fake.root)
    assert [s.stage for s in stages] == ["collect", "generate", "verify", "grade", "select", "select", "compress",
                                         "dedupe"]
    assert {s.path.name for s in stages} >= {"prompts", "traces", "deduped", "pairs"}
    assert [s.rows for s in stages if s.stage == "generate"] == [PROMPTS * len(MODELS) * SAMPLES]


def test_lineage_follows_upstream_manifests_from_a_stage_or_a_shard(fake):
    chain = [s.path.name for s in rd.lineage(fake.deduped)]
    assert chain == ["prompts", "traces", "verified", "graded", "selected", "compressed", "deduped"]
    shard = sorted(fake.compressed.glob("part-*.parquet"))[0]
    assert [s.stage for s in rd.lineage(shard)][-1] == "compress"
    assert rd.lineage(fake.root / "nope") == []


def test_metrics_match_the_pattern_the_run_was_built_with(fake):
    rep = gather(fake.root)
    verdicts = dict(((m, v), n) for m, v, n in rep.verdicts.iter_rows())
    for m, model in enumerate(MODELS):
        assert verdicts[(model, "correct")] == sum(n_correct(p, m) for p in range(PROMPTS))
    assert rep.verdicts_from.stage == "verify"
    rates = {(r["model"], r["pass_rate"]) for r in rep.pass_rates.iter_rows(named=True)}
    assert (MODELS[0], 0.0) in rates and rep.pass_rates.height == PROMPTS * len(MODELS)
    bands = dict(rep.difficulty.group_by("difficulty").agg(pl.col("n").sum()).iter_rows())
    expected = {}
    for p in range(PROMPTS):
        for m in range(len(MODELS)):
            rate = n_correct(p, m) / SAMPLES
            band = "unsolved" if rate == 0 else "hard" if rate < 0.5 else "medium" if rate < 1 else "easy"
            expected[band] = expected.get(band, 0) + 1
    assert bands == expected
    df, unit = rep.compression
    assert unit.startswith("tokens") and (df["after"] < df["before"]).all()
    assert rep.dedupe["contamination"] == {"rows": 1, "by": "benchmark", "split": {"math500": 1}}
    assert rep.dedupe["duplicates"] == {"rows": 1, "by": "kind", "split": {"exact": 1}}
    assert rep.dedupe["rows_in"] == rep.dedupe["rows_out"] + 2
    assert rep.missing == [] and rep.notes[fake.verified.resolve()].startswith("correct ")


def test_missing_stages_and_unfinished_ones_are_reported_not_fatal(fake, tmp_path):
    for name in ("prompts", "traces"):
        shutil.copytree(fake.root / name, tmp_path / name)
    manifest = tmp_path / "traces" / "_manifest.json"
    data = json.loads(manifest.read_text())
    data["complete"] = False
    manifest.write_text(json.dumps(data))
    (tmp_path / "traces" / "part-00001.parquet").unlink()  # one of two shards is done
    rep = gather(tmp_path)
    assert rep.present == ["collect", "generate"]
    assert rep.missing == ["verify", "grade", "select", "compress", "dedupe"]
    assert rep.verdicts is None and rep.difficulty is None and rep.dedupe is None and rep.compression is None
    traces = next(s for s in rep.stages if s.stage == "generate")
    assert traces.rows == pl.read_parquet(tmp_path / "traces" / "part-00000.parquet").height
    assert rep.notes[traces.path].startswith("INCOMPLETE")
    assert rep.tokens.height == traces.rows


def test_histogram_bins_include_both_ends():
    hist = rd.histogram([0.0, 0.05, 0.5, 1.0, None], 0.0, 1.0, 10)
    assert [c for *_, c in hist] == [2, 0, 0, 0, 0, 1, 0, 0, 0, 1]
    assert rd.flat_params({"a": {"b": 1, "c": None}, "rows_per_shard": 5, "d": "x"}) == {"a.b": 1, "d": "x"}


def test_side_tables_of_sharded_dedupe_runs_are_summed(fake, tmp_path):
    """Under --shard I/N dedupe writes one side table per partition: _contamination-part-0000I.parquet."""
    side = pl.read_parquet(fake.deduped / "_contamination.parquet")
    side.write_parquet(tmp_path / "_contamination-part-00000.parquet")
    side.with_columns(benchmark=pl.lit("aime2024")).write_parquet(tmp_path / "_contamination-part-00001.parquet")
    assert rd.side_counts(tmp_path, rd.CONTAMINATION) == {"rows": 2, "by": "benchmark",
                                                          "split": {"math500": 1, "aime2024": 1}}
    assert rd.side_counts(tmp_path, rd.DUPLICATES) is None
