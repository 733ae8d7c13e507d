"""verify makes minimal traces full ones and refuses duplicated keys; later stages refuse them too (issue 22,
items 3, 8 and 9). Real rows: GSM8K test problems answered with their gold number, MBPP tasks with their
reference solutions and `test_list` as Hugging Face stores it (list<str>)."""

from __future__ import annotations

import json

import polars as pl
import pytest
from support.cli import distill
from typer.testing import CliRunner
from verify_fixtures import jsonl, mbpp

from distill_cli.cli import app
from distill_cli.errors import BadInput
from distill_cli.schema import VERIFIED


def _gsm8k(n: int = 4) -> pl.DataFrame:
    rows = jsonl("gsm8k_test.jsonl")[:n]
    gold = [r["answer"].split("####")[-1].strip().replace(",", "") for r in rows]
    return pl.DataFrame({"id": [f"g{i}" for i in range(n)], "prompt": [r["question"] for r in rows],
                         "answer": gold, "response": [f"So the answer is \\boxed{{{g}}}." for g in gold]})


def _invoke(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def _ok(*args) -> str:
    result = _invoke(*args)
    assert result.exit_code == 0, (args, result.exception)
    return " ".join(result.output.split())


def _refused(*args) -> str:
    result = _invoke(*args)
    assert isinstance(result.exception, BadInput), (args, result.exception, result.output)
    return " ".join(str(result.exception).split())


@pytest.mark.slow
def test_minimal_traces_verify_into_a_full_trace_grade_accepts(tmp_path):
    """{id, prompt, answer, response} (two samples of each prompt, one wrong): verify fills model, sample, domain
    and the other trace columns, typed; grade then counts 2 samples per prompt."""
    one = _gsm8k()
    wrong = one.with_columns(pl.lit("So the answer is \\boxed{0}.").alias("response"))
    pl.concat([one, wrong]).write_parquet(tmp_path / "min.parquet")
    said = _ok("verify", tmp_path / "min.parquet", "-o", tmp_path / "v")
    assert "filled sample 8, model 8, domain 8" in said
    out = pl.read_parquet(tmp_path / "v" / "part-*.parquet")
    assert {c: out.schema[c] for c in VERIFIED} == VERIFIED  # every contract column, with its type
    assert set(out["model"]) == {"unknown"} and set(out["domain"]) == {"math"}
    assert out.sort("id", "sample").select("id", "sample", "verdict").rows()[:2] == [
        ("g0", 0, "correct"), ("g0", 1, "incorrect")]
    _ok("grade", tmp_path / "v", "-o", tmp_path / "g", "-q")
    graded = pl.read_parquet(tmp_path / "g" / "part-*.parquet")
    assert set(graded["n_samples"]) == {2} and set(graded["pass_rate"]) == {0.5}


def test_model_name_and_domain_options_fill_and_text_samples_are_cast(tmp_path):
    df = _gsm8k().with_columns(pl.lit(None, pl.String).alias("model"),
                               pl.Series("sample", ["0", "1", "0", "1"]), pl.lit("a").alias("id"))
    df = df.with_columns(pl.Series("id", ["a", "a", "b", "b"]))
    df.write_parquet(tmp_path / "t.parquet")
    _ok("verify", tmp_path / "t.parquet", "-o", tmp_path / "v", "--model-name", "r1", "--domain", "math", "-q")
    out = pl.read_parquet(tmp_path / "v" / "part-*.parquet")
    assert out.schema["sample"] == pl.Int64 and out["sample"].to_list() == [0, 1, 0, 1]
    assert set(out["model"]) == {"r1"} and set(out["domain"]) == {"math"}
    bad = df.with_columns(pl.Series("sample", ["0", "one", "0", "1"]))
    bad.write_parquet(tmp_path / "bad.parquet")
    text = _refused("verify", tmp_path / "bad.parquet", "-o", tmp_path / "v2")
    assert "column 'sample' has type String and 1 value(s) that are not the contract's Int64 (first at row 1: " \
        "'one')" in text  # the input layer's cast, before any work


@pytest.mark.slow
def test_tests_as_a_list_of_strings_verify_as_the_json_form_does(tmp_path):
    tasks = [r for r in mbpp() if not r["test_imports"]][:3]
    df = pl.DataFrame({"id": [str(r["task_id"]) for r in tasks], "prompt": [r["prompt"] for r in tasks],
                       "answer": [None] * 3, "tests": [r["test_list"] for r in tasks],
                       "response": [f"```python\n{r['code']}\n```" for r in tasks]},
                      schema_overrides={"answer": pl.String, "tests": pl.List(pl.String)})
    df.write_parquet(tmp_path / "hf.parquet")
    for domain in ("auto", "code"):
        out_dir = tmp_path / f"v-{domain}"
        _ok("verify", tmp_path / "hf.parquet", "-o", out_dir, "--domain", domain, "-q")
        out = pl.read_parquet(out_dir / "part-*.parquet")
        assert out["verdict"].to_list() == ["correct"] * 3 and set(out["domain"]) == {"code"}
        assert [json.loads(t) for t in out["tests"]] == [r["test_list"] for r in tasks]
    df.with_columns(pl.lit(7).alias("tests")).write_parquet(tmp_path / "int.parquet")
    done = distill("verify", tmp_path / "int.parquet", "-o", tmp_path / "v-int")
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert done.stderr.startswith(f"Error: {tmp_path / 'int.parquet'}: column 'tests' has type Int32")


def _traces(tmp_path, df: pl.DataFrame) -> str:
    path = tmp_path / "traces.parquet"
    df.with_columns(pl.lit("r1").alias("model"), pl.lit(0).alias("sample")).write_parquet(path)
    return str(path)


def test_duplicated_keys_stop_verify_and_drop_duplicates_keeps_the_first_identical_row(tmp_path):
    rows = _gsm8k()
    src = _traces(tmp_path, pl.concat([rows, rows.slice(1, 2), rows.slice(1, 1)]))  # g1 three times, g2 twice
    text = _refused("verify", src, "-o", tmp_path / "v")
    assert text == (f"{src}: 2 (id, model, sample) key(s) appear more than once, the first (id 'g1', model 'r1', "
                    "sample 0) 3 times; pass --drop-duplicates to keep the first of identical rows, or renumber "
                    "samples when merging runs")
    assert not (tmp_path / "v").exists()
    said = _ok("verify", src, "-o", tmp_path / "v", "--drop-duplicates")
    assert "dropped 3 duplicate rows" in said
    out = pl.read_parquet(tmp_path / "v" / "part-*.parquet")
    assert out["id"].to_list() == ["g0", "g1", "g2", "g3"]
    stats = json.loads((tmp_path / "v" / "_stats.json").read_text())
    assert stats["dropped"] == {"duplicate": 3} and stats["rows_in"] == 7


def test_differing_rows_under_one_key_stay_an_error(tmp_path):
    rows = _gsm8k()
    other = rows.slice(2, 1).with_columns(pl.lit("So the answer is \\boxed{1}.").alias("response"))
    src = _traces(tmp_path, pl.concat([rows, other]))
    text = _refused("verify", src, "-o", tmp_path / "v", "--drop-duplicates")
    assert "1 (id, model, sample) key(s) hold rows that differ, the first (id 'g2', model 'r1', sample 0)" in text
    assert "renumber samples" in text


@pytest.mark.parametrize("stage", ["grade", "dedupe", "export"])
def test_later_stages_refuse_duplicated_keys(tmp_path, stage):
    """Traces concatenated by hand after verify: grade would count 2 samples where there is 1."""
    rows = _gsm8k().with_columns(pl.lit("correct").alias("verdict"), pl.lit(1.0).alias("score"))
    src = _traces(tmp_path, pl.concat([rows, rows.slice(3, 1)]))
    out = tmp_path / ("out.jsonl" if stage == "export" else "out")
    text = _refused(stage, src, "-o", out)
    assert text.startswith(f"{src}: 1 (id, model, sample) key(s) appear more than once, the first (id 'g3', "
                           f"model 'r1', sample 0) 2 times; {stage} would")
    assert not out.exists()

