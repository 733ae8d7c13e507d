"""collect through the real command on the real benchmark files."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import polars as pl
import pytest
from support.cli import BENCHMARKS, distill


def _rows(path) -> pl.DataFrame:
    return pl.read_parquet(path / "part-*.parquet")


def _jsonl(name):
    return [json.loads(line) for line in (BENCHMARKS / name).read_text().splitlines()]


@pytest.mark.parametrize("name,args,count", [
    ("gsm8k_test.jsonl", [], 1319),
    ("math500_test.jsonl", [], 500),
    ("aime2024_test.jsonl", [], 30),
    ("amc2023_test.jsonl", [], 40),
    ("math500_test.jsonl", ["--answer-field", "solution", "--answer-format", "boxed"], 500),
])
def test_collect_benchmarks_gives_every_final_answer(tmp_path, name, args, count):
    res = distill("collect", BENCHMARKS / name, "-o", tmp_path / "out", *args)
    assert res.returncode == 0, res.stderr
    out = _rows(tmp_path / "out")
    assert out.height == count and out["answer"].null_count() == 0
    src = _jsonl(name)
    if name.startswith("gsm8k"):
        gold = [r["answer"].split("####")[-1].strip().replace(",", "") for r in src]
    elif name.startswith("amc"):
        gold = [str(int(r["answer"])) if float(r["answer"]).is_integer() else str(r["answer"]) for r in src]
    else:
        gold = [str(r["answer"]) for r in src]
    assert out["answer"].to_list() == gold
    assert out["id"].n_unique() == count
    assert set(out.columns) >= {"id", "prompt", "answer", "domain", "source", "tests", "meta"}


def test_collect_keeps_other_fields_in_meta_and_zero_padded_answers(tmp_path):
    distill("collect", BENCHMARKS / "aime2024_test.jsonl", "-o", tmp_path / "out")
    out = _rows(tmp_path / "out")
    assert "025" in out["answer"].to_list()
    meta = json.loads(out["meta"][0])
    assert {"id", "url", "solution", "question"} <= set(meta)


def test_collect_mbpp_as_code_with_tests(tmp_path):
    res = distill("collect", BENCHMARKS / "sanitized-mbpp.json", "-o", tmp_path / "out")
    assert res.returncode == 0, res.stderr
    out = _rows(tmp_path / "out")
    assert set(out["domain"]) == {"code"}
    statements = [json.loads(t)[0].splitlines() for t in out["tests"]]
    assert all(lines[-1].startswith("assert") for lines in statements)
    # MBPP's test_imports go in front of each test (they are not in meta any more): 13 tasks need them
    setup = [lines[:-1] for lines in statements if len(lines) > 1]
    assert len(setup) == 13 and all(line.startswith(("import ", "from ")) for lines in setup for line in lines)
    stats = json.loads((tmp_path / "out" / "_stats.json").read_text())
    assert stats["rows_in"] == 427 and stats["dropped"]["duplicate_id"] == 427 - out.height


def test_rejects_are_counted_and_listed(tmp_path):
    src = tmp_path / "in.jsonl"
    rows = [{"question": "What is 1+1?", "answer": "#### 2"}, {"question": "  ", "answer": "#### 3"},
            {"question": "What is 2+2?", "answer": "no marker here #### "}, {"question": "What is 1+1?", "answer": "2"}]
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    res = distill("collect", src, "-o", tmp_path / "out", "--answer-format", "gsm8k",
                  "--rejects", tmp_path / "rej.jsonl")
    assert res.returncode == 0, res.stderr
    stats = json.loads((tmp_path / "out" / "_stats.json").read_text())
    assert stats["dropped"] == {"empty_prompt": 1, "unusable_answer": 2, "duplicate_id": 0} or \
        stats["dropped"] == {"empty_prompt": 1, "unusable_answer": 2}
    rejects = [json.loads(line) for line in (tmp_path / "rej.jsonl").read_text().splitlines()]
    assert sorted((r["row"], r["reason"]) for r in rejects) == [(1, "empty_prompt"), (2, "unusable_answer"),
                                                                 (3, "unusable_answer")]


def test_hf_local_dataset_directory_and_split(tmp_path):
    from datasets import Dataset, DatasetDict

    ds = Dataset.from_list([{"problem": f"Compute {i}+{i}.", "gt": str(2 * i)} for i in range(50)])
    DatasetDict({"test": ds}).save_to_disk(str(tmp_path / "hfds"))
    res = distill("collect", f"hf:{tmp_path / 'hfds'}", "--split", "test", "-o", tmp_path / "out")
    assert res.returncode == 0, res.stderr
    out = _rows(tmp_path / "out")
    assert out.height == 50 and out["answer"].to_list()[:3] == ["0", "2", "4"]
    res = distill("collect", f"hf:{tmp_path / 'hfds'}", "--split", "train", "-o", tmp_path / "out2")
    assert res.returncode == 2 and "no split 'train'" in res.stderr


def _write_big(path, n):
    with open(path, "w") as fh:
        for i in range(n):
            fh.write(json.dumps({"question": f"Problem {i}: what is {i} plus {i * 7}?", "answer": f"#### {i * 8}",
                                 "extra": i}) + "\n")


@pytest.mark.slow
def test_sigkill_then_rerun_gives_exactly_the_uninterrupted_rows(tmp_path):
    src = tmp_path / "big.jsonl"
    _write_big(src, 200_000)
    args = ["collect", str(src), "--rows-per-shard", "2000", "-q"]
    assert distill(*args, "-o", tmp_path / "ref").returncode == 0
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-m", "distill_cli", *args, "-o", str(out)], start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(out.glob("part-*.parquet"))) < 10:
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    shards = list(out.glob("part-*.parquet"))
    assert 0 < len(shards) < 100, "the kill must land in the middle of writing shards"
    assert not json.loads((out / "_manifest.json").read_text())["complete"]
    for shard in shards:  # every visible shard is whole
        assert pl.read_parquet(shard).height == 2000
    res = distill(*args, "-o", out)
    assert res.returncode == 0, res.stderr
    got, ref = _rows(out), _rows(tmp_path / "ref")
    assert got.height == ref.height == 200_000
    assert got.equals(ref)
    assert not list(out.glob(".*"))


@pytest.mark.parametrize("setup,args,message", [
    (None, ["{tmp}/missing.jsonl"], "missing.jsonl: no such file"),
    ("good", ["{tmp}/in.jsonl", "--prompt-field", "nope"], "no column 'nope'"),
    ("corrupt", ["{tmp}/in.parquet"], "in.parquet: cannot read"),
    ("latin1", ["{tmp}/in.jsonl"], "in.jsonl:2: not valid UTF-8"),
    ("badjson", ["{tmp}/in.jsonl"], "in.jsonl:2: invalid JSON"),
    ("empty", ["{tmp}/in.jsonl"], "in.jsonl: file is empty"),
    ("good", ["{tmp}/in.jsonl", "--shard", "3/2"], "--shard '3/2'"),
    ("good", ["{tmp}/in.jsonl", "--shard", "x"], "expected I/N"),
    ("good", ["{tmp}/in.jsonl", "--answer-format", "latex"], "--answer-format 'latex'"),
    ("noanswer", ["{tmp}/in.jsonl", "--domain", "math"], "no answer column found"),
])
def test_bad_input_one_line_error_and_nothing_complete(tmp_path, setup, args, message):
    good = json.dumps({"question": "What is 1+1?", "answer": "2"}) + "\n"
    if setup in ("good", "latin1", "badjson", "empty", "noanswer"):
        content = {"good": good.encode(), "latin1": good.encode() + '{"question": "caf\xe9", "answer": "1"}\n'.encode(
            "latin-1"), "badjson": good.encode() + b'{"question": "x", answer: 1}\n', "empty": b"",
            "noanswer": b'{"question": "hi"}\n'}[setup]
        (tmp_path / "in.jsonl").write_bytes(content)
    if setup == "corrupt":
        pl.DataFrame({"question": ["q"] * 5000, "answer": ["1"] * 5000}).write_parquet(tmp_path / "in.parquet")
        data = (tmp_path / "in.parquet").read_bytes()
        (tmp_path / "in.parquet").write_bytes(data[: len(data) // 2])
    res = distill("collect", *[a.format(tmp=tmp_path) for a in args], "-o", tmp_path / "out")
    assert res.returncode == 2, (res.returncode, res.stderr)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], res.stderr
    assert not (tmp_path / "out").exists()


def test_tests_in_prompt_shows_mbpp_tests_that_name_the_function(tmp_path):
    res = distill("collect", BENCHMARKS / "sanitized-mbpp.json", "-o", tmp_path / "out", "--tests-in-prompt", "1")
    assert res.returncode == 0, res.stderr
    row = _rows(tmp_path / "out").row(0, named=True)
    first_test = json.loads(row["tests"])[0]
    assert row["prompt"].endswith("Your code should pass these tests:\n\n" + first_test)
    assert "similar_elements" in row["prompt"]


def test_multiple_choice_rows_as_mmlu_ships_them(tmp_path):
    src = tmp_path / "mmlu.jsonl"
    src.write_text('{"question": "Which is prime?", "choices": ["4", "6", "7"], "answer": 2, "subject": "math"}\n'
                   '{"question": "Capital of France?", "choices": ["Rome", "Paris"], "answer": 1, "subject": "geo"}\n')
    res = distill("collect", src, "-o", tmp_path / "out")
    assert res.returncode == 0, res.stderr
    rows = _rows(tmp_path / "out").sort("answer")
    assert rows["prompt"].to_list() == ["Capital of France?\n\nA. Rome\nB. Paris",
                                        "Which is prime?\n\nA. 4\nB. 6\nC. 7"]
    assert rows["answer"].to_list() == ["B", "C"] and set(rows["domain"]) == {"choice"}
    assert [json.loads(m) for m in rows["meta"]] == [{"subject": "geo"}, {"subject": "math"}]
