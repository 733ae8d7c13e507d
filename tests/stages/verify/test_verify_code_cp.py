"""Competitive-programming code: C++ and Python on held-out real problems, checkers, per-test limits, results."""

from __future__ import annotations

import json
import os
import shutil

import polars as pl
import pytest
from cp_problems import DIVISORS, DRINKS, PAIR_SUM, THEATRE, WATERMELON

from distill_cli.stages.verify.checkers import CHECKERS
from distill_cli.stages.verify.core import VerifyConfig, verify_frame, verify_one
from distill_cli.stages.verify.extract import code_block
from distill_cli.stages.verify.pch import build, cache_dir, first_header
from distill_cli.stages.verify.problem import Problem, checker_spec, megabytes, problem_of, seconds

CFG = VerifyConfig(code_timeout=5.0)
NEEDS_CPP = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("g++") is None,
                               reason="C++ needs g++ and the namespaces sandbox (root)")
FENCE = {"python": "python", "cpp": "cpp"}


def _rows(problem: dict, name: str, checker: str | None = None) -> list[dict]:
    rows = []
    for key in ("python", "python_wrong", "cpp", "cpp_wrong"):
        lang = key.split("_")[0]
        rows.append({"id": f"{name}/{key}", "response": f"Solution:\n```{FENCE[lang]}\n{problem[key]}```",
                     "answer": None, "domain": "code", "tests": json.dumps(problem["tests"]), "checker": checker,
                     "time_limit": "2 seconds", "memory_limit": "256 megabytes"})
    return rows


@pytest.mark.slow
@NEEDS_CPP
def test_held_out_real_problems_decide_both_languages(pool):
    rows = (_rows(THEATRE, "theatre") + _rows(WATERMELON, "watermelon") + _rows(DRINKS, "drinks", "float")
            + _rows(DIVISORS, "divisors", "lines_unordered")
            + _rows(PAIR_SUM, "pair-py", f"```python\n{PAIR_SUM['checker_python']}```")
            + _rows(PAIR_SUM, "pair-cpp", PAIR_SUM["checker_cpp"]))
    out, stats = verify_frame(pl.DataFrame(rows), pool.cfg, pool=pool)
    got = {r["id"]: (r["verdict"], r["code_language"], r["code_checker"]) for r in out.iter_rows(named=True)}
    for key, (verdict, language, _) in got.items():
        want = "incorrect" if key.endswith("_wrong") else "correct"
        assert (verdict, language) == (want, key.split("/")[1].split("_")[0]), (key, got[key], out.filter(
            pl.col("id") == key).select("test_results", "code_error").to_dicts())
    assert got["drinks/cpp"][2] == "float" and got["divisors/python"][2] == "lines-unordered"
    assert got["pair-cpp/cpp"][2] == "custom" and got["theatre/cpp"][2] == "tokens"
    theatre = out.filter(pl.col("id") == "theatre/cpp_wrong").row(0, named=True)
    assert theatre["test_results"][2] == "fail" and theatre["score"] < 1.0  # 10^18 overflows an int
    assert stats["verdicts"] == {"correct": 12, "incorrect": 12}


@pytest.mark.slow
@NEEDS_CPP
def test_float_checker_bar_and_per_test_timeout(pool):
    cpp = "```cpp\n#include <cstdio>\nint main(){double a,b; scanf(\"%lf %lf\",&a,&b); printf(\"%.7f\\n\",a/b);}\n```"
    tests = json.dumps({"inputs": ["1 3\n"], "outputs": ["0.333333333\n"]})
    assert verify_one(cpp, None, "code", tests, CFG, problem=Problem(checker="float")).verdict == "correct"
    assert verify_one(cpp, None, "code", tests, CFG, problem=Problem(checker="exact")).verdict == "incorrect"
    sleepy = {"python": "import time\nn = int(input())\nif n == 2:\n    time.sleep(4)\nprint(n)\n",
              "cpp": "#include <cstdio>\n#include <unistd.h>\nint main(){int n; scanf(\"%d\",&n); if(n==2) sleep(4);"
                     " printf(\"%d\\n\",n);}\n"}
    three = json.dumps({"inputs": ["1\n", "2\n", "3\n"], "outputs": ["1\n", "2\n", "3\n"]})
    df = pl.DataFrame({"id": list(sleepy), "response": [f"```{k}\n{v}```" for k, v in sleepy.items()],
                       "answer": [None, None], "domain": ["code", "code"], "tests": [three, three],
                       "time_limit": [1.0, 1.0]}, schema_overrides={"answer": pl.String})
    out, _ = verify_frame(df, pool.cfg, pool=pool)
    assert out["test_results"].to_list() == [["pass", "timeout", "pass"]] * 2
    assert out["verdict"].to_list() == ["incorrect"] * 2 and out["score"].to_list() == [pytest.approx(2 / 3)] * 2


@pytest.mark.slow
@NEEDS_CPP
def test_precompiled_header_is_built_and_programs_compile_with_it():
    assert build("iostream") and (cache_dir() / "iostream.gch").is_file()  # built once per machine (~2 CPU s)
    tests = json.dumps(THEATRE["tests"])
    for key, verdict in (("cpp", "correct"), ("cpp_wrong", "incorrect")):
        assert verify_one(f"```cpp\n{THEATRE[key]}```", None, "code", tests, CFG).verdict == verdict


@pytest.mark.slow
@NEEDS_CPP
def test_compile_error_kept_and_stop_on_first_failure():
    tests = json.dumps(WATERMELON["tests"])
    broken = verify_one("```cpp\nint main(){ return x; }\n```", None, "code", tests, CFG)
    assert (broken.verdict, broken.reason, broken.score) == ("incorrect", "compile_error", 0.0)
    assert "not declared" in broken.detail and broken.tests == ("skipped",) * 6
    stop = VerifyConfig(code_timeout=5.0, stop_on_first_failure=True)
    for lang in ("python", "cpp"):
        verdict = verify_one(f"```{lang}\n{WATERMELON[lang + '_wrong']}```", None, "code", tests, stop)
        assert verdict.tests == ("pass", "fail") + ("skipped",) * 4, lang


def test_precompiled_header_only_for_a_leading_include():
    assert first_header("#include <bits/stdc++.h>\nusing namespace std;\n") == "bits/stdc++.h"
    assert first_header("// solution\n/* two\nlines */\n#include<iostream>\nint main(){}") == "iostream"
    assert first_header("#define LOCAL\n#include <iostream>\n") is None  # g++ would not use it: do not build it
    assert first_header("#include <cstdio>\n#include <iostream>\n") is None


def test_checkers():
    assert CHECKERS["float"]("0.3333333\n", "0.333333333") and not CHECKERS["exact"]("0.3333333\n", "0.333333333")
    assert not CHECKERS["float"]("0.33333\n", "0.333333333")  # 3e-6 off
    assert CHECKERS["float"]("1000000.5", "1000000") and not CHECKERS["float"]("nan", "1")
    assert CHECKERS["tokens"]("1  2\n3\n", "1 2 3") and not CHECKERS["tokens"]("0.3333333", "0.333333333")
    assert CHECKERS["exact"]("1 2  \n3\n\n", "1 2\n3") and not CHECKERS["exact"]("1  2\n3", "1 2\n3")
    assert CHECKERS["lines-unordered"]("b 1\na  2\n", "a 2\nb 1\n") and not CHECKERS["lines-unordered"]("a\n", "a\na")


def test_problem_limits_and_language_from_rows():
    assert seconds({"seconds": 2, "nanos": 500_000_000}) == 2.5 and seconds("1 second") == 1.0
    assert seconds("1500 ms") == 1.5 and seconds("soon") is None and seconds(None) is None
    assert megabytes(268_435_456) == 256 and megabytes("256 megabytes") == 256 and megabytes(512) == 512
    row = {"language": "PYTHON3", "checker": "float", "time_limit": "2 seconds", "memory_limit_bytes": 1 << 28}
    assert problem_of(row) == Problem("python", "float", 2.0, 256)
    assert checker_spec(Problem(checker="Lines_Unordered"), "tokens") == {"checker": "lines-unordered"}
    assert checker_spec(Problem(checker="#include <cstdio>\nint main(){}"), "tokens")["checker_language"] == "cpp"
    text = "```python\nprint(1)\n```\n```cpp\nint main(){}\n```"
    assert code_block(text) == ("cpp", "int main(){}\n")
    assert code_block(text, "python") == ("python", "print(1)\n")
    assert code_block("```\n#include <cstdio>\nint main(){}\n```")[0] == "cpp"
    assert code_block("```java\nclass A {}\n```")[0] == "java"
    assert verify_one("```java\nclass A {}\n```", None, "code", '["assert True"]', CFG).reason == \
        "language_unsupported:java"
