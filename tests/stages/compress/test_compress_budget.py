"""max-tokens with the bundled model's real tokenizer, through the pure core and the command."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # `tests.*` helpers (no tests/__init__.py)

import json  # noqa: E402

import polars as pl  # noqa: E402
import pytest  # noqa: E402

from distill_cli.errors import BadInput  # noqa: E402
from distill_cli.stages.compress import CompressConfig, compress_frame  # noqa: E402
from distill_cli.stages.compress.budget import count_exact, load_tokenizer  # noqa: E402
from tests.stages.compress import compress_fixtures  # noqa: E402
from tests.stages.compress.compress_traces import divisors, frame, janet  # noqa: E402

equal = compress_fixtures.equal
tokenizer_dir = compress_fixtures.tokenizer_dir

pytestmark = pytest.mark.slow  # building the tokenizer from the GGUF file takes a few seconds


def test_exact_counts_match_the_tokenizer(tokenizer_dir, equal):
    tok = load_tokenizer(str(tokenizer_dir))
    df = frame(janet(), divisors())
    expected = [len(tok(c, add_special_tokens=False)["input_ids"]) for c in df["completion"]]
    assert count_exact(df["completion"].to_list(), str(tokenizer_dir)) == expected
    budget = min(expected)  # the shorter one fits exactly, the longer one does not
    cfg = CompressConfig(strategies=("max-tokens",), budget=budget, tokenizer=str(tokenizer_dir), mark=True)
    out, stats = compress_frame(df, cfg, equal=equal)
    assert out["trace_tokens"].to_list() == expected
    assert out["over_budget"].to_list() == [n > budget for n in expected]
    assert stats["token_counter"] == "tokenizer"


def test_command_drops_over_budget_with_the_tokenizer(tokenizer_dir, tmp_path, run_distill):
    df = frame(janet(), divisors(), janet(verdict="incorrect", sample=1))
    src = tmp_path / "verified.parquet"
    df.write_parquet(src)
    tok = load_tokenizer(str(tokenizer_dir))
    sizes = [len(tok(c, add_special_tokens=False)["input_ids"]) for c in df["completion"]]
    budget = (sizes[0] + sizes[1]) // 2
    res = run_distill("compress", src, "-o", tmp_path / "out", "--strategy", "first-correct,max-tokens",
                  "--budget", budget, "--tokenizer", tokenizer_dir)
    assert res.returncode == 0, res.stderr
    out = pl.read_parquet(tmp_path / "out" / "part-*.parquet")
    stats = json.loads((tmp_path / "out" / "_stats.json").read_text())
    counted = out.filter(pl.col("trace_tokens").is_not_null())["trace_tokens"].to_list()
    assert all(n <= budget for n in counted)
    assert out.height + stats.get("dropped", {}).get("over_budget", 0) == 3
    assert stats["passthrough"] == {"incorrect": 1}


def test_bad_tokenizer_directory_is_bad_input(tmp_path, run_distill):
    with pytest.raises(BadInput, match="--tokenizer"):
        load_tokenizer(str(tmp_path / "nope"))
    src = tmp_path / "verified.parquet"
    frame(janet()).write_parquet(src)
    res = run_distill("compress", src, "-o", tmp_path / "out", "--strategy", "max-tokens", "--budget", "10",
                      "--tokenizer", tmp_path)
    assert res.returncode == 2, res.stderr
    assert res.stderr.startswith(f"Error: --tokenizer {tmp_path}: cannot load a tokenizer")
    assert len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
