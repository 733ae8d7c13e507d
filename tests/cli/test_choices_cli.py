"""Unknown choice values and options the chosen mode does not read are usage errors (issue 22, items 4 and 10).

A typo (`--keep hardd`) or an option that nothing reads (`compress -s trim --budget 10`) used to run and exit 0,
selecting nothing or ignoring the option. Each case here runs the command in-process (typer's runner on the real
app, real Parquet files) and checks the project error; two run as real processes for the one-line exit-2 path.
"""

from __future__ import annotations

import polars as pl
import pytest
from typer.testing import CliRunner

from distill_cli.cli import app
from distill_cli.errors import BadInput


@pytest.fixture(scope="module")
def graded(tmp_path_factory, run_distill_module):
    """A real graded stage directory: verified rows of two models, graded by `distill grade`."""
    root = tmp_path_factory.mktemp("choices")
    rows = [{"id": f"{i:016x}", "prompt": f"q{i}", "model": m, "sample": s, "response": "x", "domain": "math",
             "verdict": "correct" if s < i % 5 else "incorrect", "score": float(s < i % 5),
             "completion_tokens": 100 + s, "reasoning": "a\n\nb", "answer": "1", "completion": "a b x"}
            for i in range(10) for m in ("teacher", "student") for s in range(4)]
    pl.DataFrame(rows).write_parquet(root / "verified.parquet")
    done = run_distill_module("grade", root / "verified.parquet", "-o", root / "graded", "-q")
    assert done.returncode == 0, done.stderr
    return root


@pytest.fixture(scope="module")
def run_distill_module():
    from support.cli import distill

    return distill


def _refused(*args) -> str:
    """The BadInput message of a command that must stop before doing any work."""
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert isinstance(result.exception, BadInput), (result.exception, result.output)
    return " ".join(str(result.exception).split())


@pytest.mark.parametrize(("args", "message"), [
    (["--keep", "hardd"], "--keep/--distribution hardd: not in the input; valid bands: "),
    (["--distribution", "foo=1", "--total", "5"], "--keep/--distribution foo: not in the input; valid bands: "),
    (["--keep", "hard,Medium"], "--keep/--distribution Medium:"),
    (["--domain", "maths"], "--domain maths: not in the input; valid domains: math, code, choice, text"),
])
def test_unknown_band_distribution_or_domain_is_a_usage_error(graded, tmp_path, args, message):
    text = _refused("select", graded / "graded", "-o", tmp_path / "out", *args)
    assert message in text
    if "bands" in message:  # grade's bands, listed even when no row has them
        assert "unsolved, hard, medium, easy, trivial, ungraded" in text
    assert not (tmp_path / "out").exists()


def test_known_bands_without_rows_still_select(graded, tmp_path):
    result = CliRunner().invoke(app, ["select", str(graded / "graded"), "-o", str(tmp_path / "out"),
                                      "--keep", "trivial,unsolved", "-q"])
    assert result.exit_code == 0, result.exception


def test_unknown_verdict_to_ignore_is_a_usage_error(graded, tmp_path):
    text = _refused("grade", graded / "verified.parquet", "-o", tmp_path / "out", "--ignore-verdicts", "unverifable")
    assert text.startswith("--ignore-verdicts unverifable: not a verdict; valid: correct, incorrect")


@pytest.mark.parametrize(("args", "message"), [
    (["compress", "-s", "trim", "--budget", "10"],
     "--budget is read only with --strategy max-tokens; it does nothing with --strategy trim"),
    (["compress", "-s", "max-tokens", "--budget", "10", "--allowance", "2"],
     "--allowance is read only with --strategy trim;"),
    (["compress", "-s", "first-correct", "--temperature", "0.5"], "--temperature is read only with --strategy rewrite"),
    (["compress", "-s", "trim", "--near-threshold", "0.8"], "--near-threshold is read only with --strategy "
                                                            "dedupe-reflections"),
    (["select", "--prefer", "longest"], "--prefer is read only with --per-prompt or --pairs"),
    (["dedupe", "--exact", "--ngram", "5"], "--ngram is read only with --decontaminate; it does nothing with --exact"),
    (["dedupe", "--decontaminate", "aime2024", "--keep", "longest"], "--keep is read only with --exact or --near"),
    (["dedupe", "--exact", "--num-perm", "64"], "--num-perm is read only with --near"),
    (["export", "--format", "dpo", "--dpo-style", "standard", "--drop-incorrect"],
     "--drop-incorrect is read only with --format sft"),
    (["export", "--format", "sft", "--dpo-style", "standard"], "--dpo-style is read only with --format dpo"),
    (["generate", "--model", "tiny", "--concurrency", "4"], "--concurrency is read only with --backend openai"),
    (["generate", "--model", "m", "--backend", "openai", "--max-num-seqs", "4"],
     "--max-num-seqs is read only with --backend vllm"),
])
def test_an_option_the_chosen_mode_does_not_read_is_refused(graded, tmp_path, args, message):
    out = tmp_path / ("out.jsonl" if args[0] == "export" else "out")
    text = _refused(args[0], graded / "graded", "-o", out, *args[1:])
    assert text.startswith(message)
    assert not out.exists()


def test_the_options_a_mode_reads_are_accepted(graded, tmp_path):
    """The same options with the mode that reads them pass the check (they then run or fail on other grounds)."""
    for args in (["compress", "-s", "max-tokens", "--budget", "10", "--mark"],
                 ["select", "--per-prompt", "1", "--prefer", "longest"],
                 ["dedupe", "--exact", "--keep", "longest"]):
        result = CliRunner().invoke(app, [args[0], str(graded / "graded"), "-o", str(tmp_path / args[0]), *args[1:],
                                          "-q"])
        assert result.exit_code == 0, (args, result.exception)


def test_refusals_are_one_line_and_exit_2(graded, tmp_path, run_distill_module):
    done = run_distill_module("compress", graded / "graded", "-o", tmp_path / "c", "-s", "trim", "--budget", "10")
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith("Error: --budget is read only with --strategy max-tokens")
    assert len(done.stderr.strip().splitlines()) == 1
    assert BadInput.exit_code == 2  # what the in-process cases raise: the same exit
