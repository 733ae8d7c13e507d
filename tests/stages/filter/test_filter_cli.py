"""`distill filter` end to end in a real process: the planted defects go, each with its reason; clean traces stay."""

from __future__ import annotations

import json

import polars as pl
import pytest
from filter_traces import fixture_frame


@pytest.fixture(scope="module")
def traces(tmp_path_factory):
    path = tmp_path_factory.mktemp("filter") / "traces.parquet"
    df = fixture_frame(clean=12)
    df.write_parquet(path)
    return path, df


def test_filter_drops_exactly_the_planted_traces(traces, tmp_path, run_distill):
    path, df = traces
    out = tmp_path / "filtered"
    done = run_distill("filter", path, "-o", out, "--rows-per-shard", "8")  # 3 shards: one joined side table
    assert done.returncode == 0, done.stderr
    kept = pl.read_parquet(out / "part-*.parquet")
    assert kept["planted"].null_count() == kept.height == 12
    assert kept.columns[: len(df.columns)] == df.columns  # none dropped (reading adds missing contract columns)
    side = pl.read_parquet(out / "_filtered.parquet").sort("row")
    planted = df.with_row_index("row").filter(pl.col("planted").is_not_null())
    assert side["row"].to_list() == planted["row"].cast(pl.Int64).to_list()
    assert side["reason"].to_list() == planted["planted"].to_list()
    assert side["id"].to_list() == planted["id"].to_list() and set(side["file"]) == {"traces.parquet"}
    stats = json.loads((out / "_stats.json").read_text())
    assert stats["rows_in"] == 21 and stats["rows_out"] == 12
    assert {k: v for k, v in stats["dropped"].items() if v} == {r: 1 for r in planted["planted"]}
    assert not (out / "_work").exists()
    assert "dropped 9" in " ".join(done.stderr.split())


@pytest.mark.slow
def test_filter_rerun_is_a_no_op_and_other_params_conflict(traces, tmp_path, run_distill):
    path, _ = traces
    out = tmp_path / "filtered"
    assert run_distill("filter", path, "-o", out, "-q").returncode == 0
    before = (out / "_filtered.parquet").stat().st_mtime_ns
    assert run_distill("filter", path, "-o", out, "-q").returncode == 0
    assert (out / "_filtered.parquet").stat().st_mtime_ns == before
    changed = run_distill("filter", path, "-o", out, "--max-foreign-language", "off")
    assert changed.returncode == 2 and "max_foreign_language" in changed.stderr.replace("filter", "")


def test_filter_checks_can_be_turned_off(traces, tmp_path, run_distill):
    path, _ = traces
    out = tmp_path / "loose"
    done = run_distill("filter", path, "-o", out, "-q", "--max-repeated-share", "off", "--max-foreign-script",
                       "off", "--max-foreign-language", "off", "--no-default-refusals", "--think", "off",
                       "--no-truncated", "--no-answers-disagree", "--no-answer-unsupported", "--no-empty-answer")
    assert done.returncode == 0, done.stderr
    assert pl.read_parquet(out / "part-*.parquet").height == 21
    assert pl.read_parquet(out / "_filtered.parquet").height == 0


def test_filter_bad_option_is_a_one_line_error(traces, tmp_path, run_distill):
    path, _ = traces
    done = run_distill("filter", path, "-o", tmp_path / "x", "--max-repeated-share", "lots")
    assert done.returncode == 2 and len(done.stderr.splitlines()) == 1
    assert done.stderr.startswith("Error: --max-repeated-share 'lots': expected a number or 'off'")
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("args, message", [
    (["--max-foreign-script", "2"], "expected a share in [0, 1]"),
    (["--refusal-pattern", "(oops"], "--refusal-pattern '(oops': not a valid regex"),
    (["--think", "maybe"], "--think 'maybe'"),
    (["--max-perplexity", "10"], "missing column 'perplexity'"),
])
def test_filter_bad_options_are_refused_before_any_work(traces, tmp_path, args, message):
    from typer.testing import CliRunner

    from distill_cli.cli import load
    from distill_cli.errors import BadInput

    path, _ = traces
    result = CliRunner().invoke(load(("filter",)), ["filter", str(path), "-o", str(tmp_path / "x"), *args])
    assert isinstance(result.exception, BadInput) and message in str(result.exception)
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_report_shows_what_filter_dropped_and_why(traces, tmp_path, run_distill):
    from distill_cli.report.summary import gather

    path, df = traces
    run = tmp_path / "run"
    assert run_distill("filter", path, "-o", run / "filtered", "-q").returncode == 0
    rep = gather(run)
    planted = df["planted"].drop_nulls().to_list()
    assert rep.filter["filtered"] == {"rows": 9, "by": "reason", "split": {r: 1 for r in planted}}
    assert rep.filter["rows_in"] == 21 and rep.filter["rows_out"] == 12
    assert rep.filter["failed_checks"]["answer_unsupported"] == 3  # a planted row may fail more than one check
    assert "filter" not in rep.missing and rep.notes[(run / "filtered").resolve()] == "-9 defective traces"
    done = run_distill("report", run, "-q")
    assert done.returncode == 0, done.stderr
    page = (run / "report" / "report.html").read_text()
    assert "Trace quality filter" in page and "reason: foreign_language" in page
    assert (run / "report" / "filter.png").is_file()
