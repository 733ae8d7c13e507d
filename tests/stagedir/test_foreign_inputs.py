"""Inputs written by other tools, typed the ways they type them, fed to every stage.

A base run over real GSM8K prompts is made once with the real stages. Then each stage's input is re-written by
pyarrow in four foreign ways (an all-null column of type `null`, narrower integers, `large_string`, optional
columns left out) and the stage is run on it and on the same data in the contract's own types: the two outputs
must be the same rows and values, and no run may end in a traceback.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from distill_cli.cli import app
from tests.support.cli import BENCHMARKS, distill

PROMPTS = 6
OPTIONAL = ("reasoning", "seed", "tests", "meta")
KEYS = ["id", "model", "sample"]


def run(*args) -> None:
    res = CliRunner().invoke(app, [*map(str, args), *(["-q"] if args[0] != "inspect" else [])])
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    assert res.exit_code == 0, res.output


def read(path: Path) -> pl.DataFrame:
    return pl.concat([pl.read_parquet(p) for p in sorted(path.glob("part-*.parquet"))], how="diagonal")


def traces(prompts: pl.DataFrame) -> pl.DataFrame:
    """Three samples per prompt: 0 right, 1 wrong, 2 right on even prompts only, each with a reasoning."""
    rows = []
    for p, row in enumerate(prompts.iter_rows(named=True)):
        for s in range(3):
            good = s == 0 or (s == 2 and p % 2 == 0)
            answer = row["answer"] if good else "-1"
            response = f"The answer is \\boxed{{{answer}}}."
            reasoning = f"The question is: {row['prompt']}\nWorking through it (attempt {s}), I get {answer}."
            rows.append({**row, "model": "teacher", "sample": s, "completion": f"<think>{reasoning}</think>{response}",
                         "reasoning": reasoning, "response": response, "finish_reason": "stop",
                         "prompt_tokens": 50 + p, "completion_tokens": 80 + 10 * s, "gen_params": "{}", "seed": 7})
    return pl.DataFrame(rows)


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> dict[str, Path]:
    """The stage inputs in distill's own types, made by the real stages."""
    root = tmp_path_factory.mktemp("base")
    run("collect", BENCHMARKS / "gsm8k_test.jsonl", "-o", root / "prompts", "--limit", PROMPTS)
    traces(read(root / "prompts")).write_parquet(root / "traces.parquet")
    run("verify", root / "traces.parquet", "-o", root / "verified")
    run("grade", root / "verified", "-o", root / "graded")
    run("select", root / "graded", "-o", root / "selected", "--correct-only")
    run("select", root / "graded", "-o", root / "pairs", "--pairs")
    return {"traces": root / "traces.parquet", "verified": root / "verified", "graded": root / "graded",
            "selected": root / "selected", "pairs": root / "pairs"}


def _table(path: Path) -> pa.Table:
    files = [path] if path.is_file() else sorted(path.glob("part-*.parquet"))
    return pa.concat_tables([pq.read_table(f) for f in files])


def _replace(t: pa.Table, name: str, column: pa.Array) -> pa.Table:
    return t.set_column(t.schema.get_field_index(name), name, column) if name in t.column_names else t


def null_typed(t: pa.Table) -> tuple[pa.Table, pa.Table]:
    """A non-thinking model's traces: `reasoning` (and `seed`) all null, written by pyarrow as type null."""
    foreign, same = t, t
    for name, kind in (("reasoning", pa.string()), ("seed", pa.int64())):
        foreign = _replace(foreign, name, pa.nulls(t.num_rows))
        same = _replace(same, name, pa.nulls(t.num_rows, kind))
    return foreign, same


def narrow_ints(t: pa.Table) -> tuple[pa.Table, pa.Table]:
    """int32 where distill writes int64 (and an unsigned one), as many writers do for counts."""
    for i, field in enumerate(t.schema):
        if pa.types.is_int64(field.type):
            kind = pa.uint32() if field.name == "completion_tokens" else pa.int32()
            t = t.set_column(i, field.name, t.column(i).cast(kind))
    return t, _table_like_base(t)


def large_strings(t: pa.Table) -> tuple[pa.Table, pa.Table]:
    """Every text column as large_string, as `datasets` and pandas often write it."""
    for i, field in enumerate(t.schema):
        if pa.types.is_string(field.type):
            t = t.set_column(i, field.name, t.column(i).cast(pa.large_string()))
    return t, _table_like_base(t)


def missing_optional(t: pa.Table) -> tuple[pa.Table, pa.Table]:
    """The contract's nullable columns left out (no reasoning, seed, tests, meta): the same as all null."""
    foreign = t.drop_columns([c for c in OPTIONAL if c in t.column_names])
    same = t
    for name in OPTIONAL:
        same = _replace(same, name, pa.nulls(t.num_rows, t.schema.field(name).type if name in t.column_names
                                             else pa.string()))
    return foreign, same


def _table_like_base(t: pa.Table) -> pa.Table:
    """The same values in the contract's types: text as string, integers as int64."""
    fields = [pa.field(f.name, pa.string() if pa.types.is_large_string(f.type) else
                       pa.int64() if pa.types.is_integer(f.type) else f.type) for f in t.schema]
    return t.cast(pa.schema(fields))


VARIANTS: dict[str, Callable[[pa.Table], tuple[pa.Table, pa.Table]]] = {
    "null": null_typed, "ints": narrow_ints, "large_string": large_strings, "missing": missing_optional}

# (name, input, command arguments after IN and -o OUT); `out` ending in .jsonl is an export
STAGES = [
    ("verify", "traces", ["verify"]),
    ("grade", "verified", ["grade"]),
    ("select", "graded", ["select", "--correct-only"]),
    ("select-pairs", "graded", ["select", "--pairs"]),
    ("compress", "selected", ["compress", "--strategy", "trim"]),
    ("filter", "verified", ["filter", "--no-answer-unsupported"]),  # a trace without reasoning has no support
    ("dedupe", "selected", ["dedupe", "--exact"]),
    ("export-sft", "selected", ["export", "--format", "sft"]),
    ("export-dpo", "pairs", ["export", "--format", "dpo"]),
]


def _normal(df: pl.DataFrame) -> pl.DataFrame:
    """Rows in key order and columns by name: what a stage made, whatever order the input had."""
    return df.select(sorted(df.columns)).sort([k for k in [*KEYS, "pair_role"] if k in df.columns])


@pytest.fixture(scope="module")
def expected(tmp_path_factory) -> Callable[[str, list[str], pa.Table, str], Path]:
    """The stage's output on the same data in the contract's types, made once per stage and distinct table."""
    made: dict[tuple[str, bytes], Path] = {}

    def output(stage: str, args: list[str], same: pa.Table, suffix: str) -> Path:
        key = (stage, _digest(same))
        if key not in made:
            root = tmp_path_factory.mktemp(f"expected-{stage}")
            pq.write_table(same, root / "same.parquet")
            run(args[0], root / "same.parquet", "-o", root / f"out{suffix}", *args[1:])
            made[key] = root / f"out{suffix}"
        return made[key]

    return output


def _digest(t: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, t.schema) as writer:
        writer.write_table(t)
    return hashlib.sha256(sink.getvalue().to_pybytes()).digest()


def _records(path: Path) -> list[str]:
    return sorted(json.dumps(json.loads(line), sort_keys=True) for line in path.read_text().splitlines())


@pytest.mark.slow
@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize(("stage", "source", "args"), STAGES, ids=[s[0] for s in STAGES])
def test_each_stage_reads_foreign_types_as_the_contracts(base, expected, tmp_path, variant, stage, source, args):
    foreign, same = VARIANTS[variant](_table(base[source]))
    pq.write_table(foreign, tmp_path / "foreign.parquet")
    suffix = ".jsonl" if args[0] == "export" else ""
    got = tmp_path / f"out{suffix}"
    run(args[0], tmp_path / "foreign.parquet", "-o", got, *args[1:])
    want = expected(stage, args, same, suffix)
    if suffix:
        assert _records(got) and _records(got) == _records(want)
    else:
        assert read(got).height > 0
        assert_frame_equal(_normal(read(got)), _normal(read(want)))


@pytest.mark.parametrize("variant", VARIANTS)
def test_inspect_shows_the_contract_types(base, tmp_path, variant):
    foreign, _ = VARIANTS[variant](_table(base["graded"]))
    pq.write_table(foreign, tmp_path / "foreign.parquet")
    res = CliRunner().invoke(app, ["inspect", str(tmp_path / "foreign.parquet"), "--json"])
    assert res.exit_code == 0, res.output
    types = {c["name"]: c["type"] for c in json.loads(res.output)["columns"]}
    assert types["sample"] == "Int64" and types["prompt"] == "String" and types["reasoning"] == "String"


@pytest.mark.slow
def test_a_non_thinking_models_traces_go_through_to_export_in_real_processes(base, tmp_path):
    """The case that failed: pyarrow's null-typed `reasoning`, through verify, grade, select and both exports."""
    foreign, _ = null_typed(_table(base["traces"]))
    pq.write_table(foreign, tmp_path / "traces.parquet")
    steps = [("verify", "traces.parquet", "verified"), ("grade", "verified", "graded"),
             ("select", "graded", "selected"), ("select", "graded", "pairs", "--pairs"),
             ("export", "selected", "sft.jsonl", "--format", "sft", "--drop-incorrect"),
             ("export", "pairs", "dpo.jsonl", "--format", "dpo")]
    for cmd, src, out, *rest in steps:
        res = distill(cmd, tmp_path / src, "-o", tmp_path / out, *rest, "-q")
        assert res.returncode == 0 and "Traceback" not in res.stderr, (cmd, res.stderr)
    sft = [json.loads(line) for line in (tmp_path / "sft.jsonl").read_text().splitlines()]
    assert len(sft) == 9 and all("<think>" not in r["messages"][-1]["content"] for r in sft)
    dpo = [json.loads(line) for line in (tmp_path / "dpo.jsonl").read_text().splitlines()]
    assert len(dpo) == PROMPTS and all("-1" in r["rejected"][-1]["content"] for r in dpo)
