"""Code verdicts: MBPP reference solutions pass their own tests in the sandbox, broken variants fail."""

from __future__ import annotations

import ast
import json

import polars as pl
import pytest
from support.cli import BENCHMARKS, distill
from verify_fixtures import mbpp, mbpp_program

from distill_cli.stages.verify.code import BadTests, parse_tests
from distill_cli.stages.verify.core import VerifyConfig, verify_frame, verify_one
from distill_cli.stages.verify.extract import code_candidate

CFG = VerifyConfig(code_timeout=5.0)


def _broken(program: str) -> str:
    """The same program with every top-level function replaced by one that returns None."""
    names = [n.name for n in ast.parse(program).body if isinstance(n, ast.FunctionDef)]
    return program + "".join(f"\n\ndef {name}(*args, **kwargs):\n    return None\n" for name in names)


def _frame(rows: list[dict], broken: bool = False) -> pl.DataFrame:
    programs = [_broken(mbpp_program(r)) if broken else mbpp_program(r) for r in rows]
    return pl.DataFrame({
        "id": [str(r["task_id"]) for r in rows],
        "response": [f"<think>```python\nprint('draft')\n```</think>\nHere it is:\n```python\n{p}\n```"
                     for p in programs],
        "answer": [None] * len(rows),
        "domain": ["code"] * len(rows),
        "tests": [json.dumps(r["test_list"]) for r in rows],
    }, schema_overrides={"answer": pl.String})


def test_mbpp_sample_references_pass_and_broken_variants_fail(pool):
    rows = mbpp()[::20]
    good, _ = verify_frame(_frame(rows), pool.cfg, pool=pool)
    assert good.filter(pl.col("verdict") != "correct").select("id", "verdict").to_dicts() == []
    assert good["score"].to_list() == [1.0] * len(rows)
    bad, stats = verify_frame(_frame(rows, broken=True), pool.cfg, pool=pool)
    assert bad.filter(pl.col("score") >= 1.0).select("id").to_dicts() == []
    assert set(bad["verdict"]) == {"incorrect"}
    assert stats["by_domain"]["code"]["incorrect"] == len(rows)


def _collected(src, out) -> pl.DataFrame:
    res = distill("collect", src, "-o", out, "-q")
    assert res.returncode == 0, res.stderr
    return pl.read_parquet(out / "part-*.parquet")


@pytest.mark.slow
def test_mbpp_all_427_references_verify_correct_through_collect(tmp_path):
    """The user's path: collect sanitized MBPP, answer with each task's reference solution (no imports added),
    verify. The tests must carry MBPP's test_imports (task 98 calls math.isclose), or 10 tasks fail."""
    tasks = {r["task_id"]: r for r in mbpp()}
    prompts = _collected(BENCHMARKS / "sanitized-mbpp.json", tmp_path / "prompts")
    seen = {json.loads(m)["task_id"] for m in prompts["meta"]}
    twins = tmp_path / "twins.json"  # tasks whose prompt repeats another's: collect keeps the first, so again alone
    twins.write_text(json.dumps([r for t, r in tasks.items() if t not in seen]))
    prompts = pl.concat([prompts, _collected(twins, tmp_path / "twins")])
    ids = [json.loads(m)["task_id"] for m in prompts["meta"]]
    assert sorted(ids) == sorted(tasks) and len(tasks) == 427
    by_task = dict(zip(ids, prompts["tests"], strict=True))
    assert json.loads(by_task[98])[0].startswith("import math\nassert math.isclose(multiply_num((8, 2, 3, -1, 7))")
    traces = prompts.with_columns(
        pl.Series("response", [f"```python\n{tasks[t]['code']}\n```" for t in ids]),
        pl.lit("reference").alias("model"))  # no sample: verify numbers them (the twins share their prompt's id)
    traces.write_parquet(tmp_path / "traces.parquet")
    # a few references are slow (task 123 is quadratic up to 9999): a generous time limit
    res = distill("verify", tmp_path / "traces.parquet", "-o", tmp_path / "verified", "--workers", "2",
                  "--code-timeout", "60", "-q")
    assert res.returncode == 0, res.stderr
    out = pl.read_parquet(tmp_path / "verified" / "part-*.parquet")
    assert out.height == 427
    assert out.filter(pl.col("verdict") != "correct").select("meta", "verdict").to_dicts() == []


def test_stdio_cases_scored_per_test():
    program = "```python\na, b = map(int, input().split())\nprint(a + b)\n```"
    tests = json.dumps({"inputs": ["1 2\n", "3 4\n", "10 20\n"], "outputs": ["3\n", "7", "31\n"]})
    verdict = verify_one(program, None, "code", tests, CFG)
    assert (verdict.verdict, verdict.score) == ("incorrect", pytest.approx(2 / 3))
    exact = json.dumps({"inputs": ["1 2\n", "3 4\n"], "outputs": ["3\n", "7\n"]})
    assert verify_one(program, None, "code", exact, CFG).verdict == "correct"


def test_function_call_cases_and_leetcode_class():
    tests = json.dumps({"fn_name": "add", "inputs": [[1, 2], [3, 4], [5, 0], [0.1, 0.2]], "outputs": [3, 7, 5, 0.3]})
    assert verify_one("```python\ndef add(a, b):\n    return a + b\n```", None, "code", tests, CFG).score == 1.0
    cls = "```python\nclass Solution:\n    def add(self, a, b):\n        return a - b\n```"
    verdict = verify_one(cls, None, "code", tests, CFG)
    assert (verdict.verdict, verdict.score) == ("incorrect", 0.25)  # only 5 - 0 == 5
    assert verify_one("```python\ndef other(): pass\n```", None, "code", tests, CFG).score == 0.0


def test_program_that_raises_fails_every_test():
    verdict = verify_one("```python\nraise SystemExit(3)\n```", None, "code", '["assert True", "assert 1"]', CFG)
    assert (verdict.verdict, verdict.score) == ("incorrect", 0.0)


def test_unparsable_tests_and_missing_code():
    assert verify_one("```python\nx = 1\n```", None, "code", "not json", CFG).verdict == "unverifiable"
    assert verify_one("```python\nx = 1\n```", None, "code", '{"foo": 1}', CFG).verdict == "unverifiable"
    assert verify_one("```python\nx = 1\n```", None, "code", None, CFG).verdict == "unverifiable"
    assert verify_one("I would write a loop.", None, "code", '["assert True"]', CFG).verdict == "no_answer"
    assert verify_one("<think>```python\nx=1\n```", None, "code", '["assert True"]', CFG).verdict == "no_answer"
    with pytest.raises(BadTests):
        parse_tests("[]")


def test_code_extraction_prefers_last_python_block():
    text = "```python\nfirst = 1\n```\nthen\n```\nplain = 2\n```\n```python\nlast = 3\n```\n```text\nout\n```"
    assert code_candidate(text).strip() == "last = 3"
    assert code_candidate("```\nplain = 2\n```").strip() == "plain = 2"
    assert code_candidate("def f():\n    return 1") == "def f():\n    return 1"
    assert code_candidate("Here is my plan: loop over it.") is None
