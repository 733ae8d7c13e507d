"""distill compress through the real command: stage directories, chains, stats, resume, bad input."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # `tests.*` helpers (no tests/__init__.py)

import polars as pl  # noqa: E402
import pytest  # noqa: E402

from distill_cli.stages.compress.text import paragraphs  # noqa: E402
from tests.stages.compress.compress_traces import (  # noqa: E402
    FRACTION_PARAS,
    JANET_PARAS,
    SUM_PARAS,
    divisors,
    fraction,
    frame,
    janet,
    wobble,
)


def _verified(tmp_path: Path) -> Path:
    """A verified stage directory of four R1-style rows: three correct, one incorrect."""
    src = tmp_path / "verified.parquet"
    frame(janet(), fraction(), wobble(), divisors(verdict="incorrect", sample=1)).write_parquet(src)
    return src


def test_chain_end_to_end(tmp_path, run_distill):
    src, out = _verified(tmp_path), tmp_path / "compressed"
    res = run_distill("compress", src, "-o", out, "--strategy", "dedupe-reflections,trim",
                      "-s", "first-correct", "--allowance", "2", "--extra-steps", "1")
    assert res.returncode == 0, res.stderr
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["complete"] and manifest["stage"] == "compress" and manifest["rows"] == 4
    assert manifest["params"]["compress"]["strategies"] == ["dedupe-reflections", "trim", "first-correct"]
    df = pl.read_parquet(out / "part-*.parquet")
    assert df["compression"].to_list() == [
        "dedupe-reflections+trim+first-correct",
        "dedupe-reflections+first-correct",  # trim's cut (settled answer + 2) keeps all that dedupe left
        "reverted:first-correct",  # the other two leave the wobble whole; first-correct + 1 would end on 13
        "none",  # incorrect: passed through
    ]
    assert paragraphs(df["reasoning"][0]) == [JANET_PARAS[0]] + JANET_PARAS[2:6]
    assert paragraphs(df["reasoning"][1]) == FRACTION_PARAS[:6]
    assert df["reasoning"][2] == "\n\n".join(SUM_PARAS)
    assert (df["compression_ratio"] < 1).to_list() == [True, True, False, False]
    stats = json.loads((out / "_stats.json").read_text())
    assert stats["rows_in"] == 4 and stats["rows_out"] == 4
    assert stats["passthrough"] == {"incorrect": 1} and stats["reverted"] == {"first-correct": 1}
    assert "compress: 2 of 3 eligible traces shortened" in res.stderr
    assert df.columns[:-3] == pl.read_parquet(src).columns


@pytest.mark.slow  # four runs of the command
def test_rerun_skips_and_other_params_conflict(tmp_path, run_distill):
    src, out = _verified(tmp_path), tmp_path / "compressed"
    assert run_distill("compress", src, "-o", out, "-s", "trim", "-q").returncode == 0
    before = (out / "part-00000.parquet").stat().st_mtime_ns
    again = run_distill("compress", src, "-o", out, "-s", "trim", "-q")
    assert again.returncode == 0 and (out / "part-00000.parquet").stat().st_mtime_ns == before
    other = run_distill("compress", src, "-o", out, "-s", "trim", "--allowance", "3")
    assert other.returncode == 2
    assert "changed: allowance 1 -> 3" in other.stderr and "--overwrite" in other.stderr
    assert run_distill("compress", src, "-o", out, "-s", "trim", "--allowance", "3", "--overwrite",
                       "-q").returncode == 0


def test_on_fail_drop_and_all(tmp_path, run_distill):
    src, out = _verified(tmp_path), tmp_path / "compressed"
    res = run_distill("compress", src, "-o", out, "-s", "first-correct", "--extra-steps", "1", "--on-fail", "drop",
                      "--all", "-q")
    assert res.returncode == 0, res.stderr
    df = pl.read_parquet(out / "part-*.parquet")
    assert df.height == 3 and "What is 5 + 7?" not in df["prompt"].to_list()
    assert df["compression"].to_list() == ["first-correct"] * 3  # --all: the incorrect row is cut too
    stats = json.loads((out / "_stats.json").read_text())
    assert stats["dropped"] == {"reverify_failed:first-correct": 1}


@pytest.mark.slow  # four runs of the command
def test_bad_input_is_one_line_and_leaves_nothing(tmp_path, run_distill):
    src = tmp_path / "traces.parquet"
    frame(janet()).drop("verdict").write_parquet(src)
    cases = [
        ([src, "-s", "trim"], "missing column 'verdict' needed by compress"),
        ([_verified(tmp_path), "-s", "trim,shorten"], "--strategy 'shorten'"),
        ([_verified(tmp_path), "-s", "rewrite", "--backend", "openai"], "--strategy rewrite needs --model"),
        ([_verified(tmp_path), "-s", "rewrite", "--model", "m", "--template", tmp_path / "none.txt"],
         "--template"),
    ]
    for args, message in cases:
        out = tmp_path / "out"
        res = run_distill("compress", *args, "-o", out)
        assert res.returncode == 2, (args, res.stderr)
        assert res.stderr.startswith("Error: ") and message in res.stderr, res.stderr
        assert len(res.stderr.strip().splitlines()) == 1
        assert not out.exists()


def _gsm8k_traces(n: int) -> pl.DataFrame:
    """Real GSM8K worked solutions as one-paragraph reasonings ending in a newline, as teachers write them."""
    from support.cli import BENCHMARKS

    lines = (BENCHMARKS / "gsm8k_test.jsonl").read_text().splitlines()[:n]
    rows = []
    for i, item in enumerate(json.loads(line) for line in lines):
        work, _, final = item["answer"].partition("####")
        response = f"The answer is \\boxed{{{final.strip()}}}."
        rows.append({"id": f"g{i}", "prompt": item["question"], "answer": final.strip(), "domain": "math",
                     "reasoning": work.strip() + "\n", "response": response, "verdict": "correct",
                     "completion": f"<think>\n{work.strip()}\n</think>\n\n{response}"})
    return pl.DataFrame(rows)


def test_trim_summary_does_not_count_whitespace_as_shortening(tmp_path, run_distill):
    df = _gsm8k_traces(40)
    df.write_parquet(tmp_path / "verified.parquet")
    res = run_distill("compress", tmp_path / "verified.parquet", "-o", tmp_path / "out", "-s", "trim")
    assert res.returncode == 0, res.stderr
    summary = " ".join(res.stdout.split() + res.stderr.split())
    assert "compress: 0 of 40 eligible traces shortened (40 differed only in whitespace: left as they were)" \
        in summary
    out = pl.read_parquet(tmp_path / "out" / "part-*.parquet")
    assert out["reasoning"].to_list() == df["reasoning"].to_list()
    assert set(out["compression"]) == {"none"}
