"""score without an engine: the columns a trainer reads, the checks on traces (each bad one fails in one line naming
its column and row, before any engine starts), the divergence. Real Parquet in tmp_path, real `distill` processes,
the bundled model's real tokenizer."""

from __future__ import annotations

import polars as pl
import pyarrow.parquet as pq
import pytest

from distill_cli.engines import logprobs as lp
from distill_cli.stages.score.core import derived
from tests.support.cli import distill


@pytest.fixture(scope="module")
def tokenizer(tiny_model):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tiny_model))


@pytest.fixture(scope="module")
def tiny_model():
    from distill_cli.model import build_tiny

    return build_tiny()


def traces(tmp_path, tokenizer, edit=None) -> str:
    texts = ["The answer is 4.", "Janet sells 9 eggs, so she makes $18."]
    ids = [tokenizer.encode(t, add_special_tokens=False) for t in texts]
    if edit:
        edit(texts, ids)
    df = pl.DataFrame({"id": ["a", "b"], "prompt": ["2+2?", "Eggs?"], "completion": texts,
                       "finish_reason": ["length", "length"], "token_ids": ids},
                      schema_overrides={"token_ids": pl.List(pl.Int32)})
    path = tmp_path / "traces.parquet"
    df.write_parquet(path)
    return str(path)


def test_flat_logprobs_become_fixed_size_lists_read_back_without_loops():
    flat_ids = [5, 5, 7, 9, 8, 1, 8]  # 2 positions x (token + top-2), then a 1-token row
    flat_lps = [-0.1, -0.1, -2.0, -0.5, -0.2, -0.3, -0.9]
    a = lp.from_flat([5, 9], flat_ids[:6], flat_lps[:6], 2, prompt_ids=[1, 2])
    assert a.topk_ids.tolist() == [[5, 7], [8, 1]] and a.logprobs.tolist() == pytest.approx([-0.1, -0.5])
    with pytest.raises(ValueError, match="line up"):
        lp.from_flat([5, 8], flat_ids[:6], flat_lps[:6], 2)
    cols = lp.columns([a, None, a], 2, "float16")
    df = pl.DataFrame(cols)
    assert df.schema["topk_logprobs"] == pl.List(pl.Array(pl.Float16, 2))
    assert df["token_ids"].to_list() == [[5, 9], None, [5, 9]]
    top = lp.topk_arrays(df.to_arrow()["topk_ids"], 2)
    assert top.tolist() == [[5, 7], [8, 1], [5, 7], [8, 1]]


def test_divergence_is_the_mean_teacher_minus_student_logprob():
    df = pl.DataFrame({"teacher_logprobs": [[-0.1, -0.5], [-1.0], []],
                       "student_logprobs": [[-0.6, -1.0], [-0.5], []]})
    got = derived(df)["divergence"].to_list()
    assert got[0] == pytest.approx(0.5) and got[1] == pytest.approx(-0.5) and got[2] is None
    gen = derived(df.rename({"teacher_logprobs": "token_logprobs"}))  # generate's own logprobs as the teacher
    assert gen["divergence"].to_list()[0] == pytest.approx(0.5)
    assert "divergence" not in derived(df.drop("student_logprobs")).columns


def test_stored_bytes_per_token_come_from_the_parquet_footers(tmp_path):
    a = lp.from_flat([5, 9], [5, 5, 7, 9, 8, 1], [-0.1, -0.1, -2.0, -0.5, -0.2, -0.3], 2)
    path = tmp_path / "x.parquet"
    pl.DataFrame(lp.columns([a] * 10, 2)).write_parquet(path)
    stats = lp.size_stats([path], 20)
    meta = pq.ParquetFile(path).metadata.row_group(0)
    total = sum(meta.column(i).total_compressed_size for i in range(meta.num_columns)
                if meta.column(i).path_in_schema.split(".")[0] != lp.PROMPT_IDS)
    assert stats["bytes"] == total and stats["bytes_per_token"] == pytest.approx(total / 20)


@pytest.mark.slow
@pytest.mark.parametrize(("case", "edit", "expected"), [
    ("another tokenizer", lambda t, i: i[1].__setitem__(2, 60_000),
     "column token_ids, row 1: token id 60000 is outside the vocabulary"),
    ("edited text", lambda t, i: t.__setitem__(1, t[1].replace("9", "7")),
     "column token_ids, row 1: the ids do not decode to the row's completion"),
])
def test_a_bad_trace_fails_in_one_line_naming_column_and_row_and_writes_nothing(tmp_path, tokenizer, case, edit,
                                                                                 expected):
    src = traces(tmp_path, tokenizer, edit)
    proc = distill("score", src, "-o", tmp_path / "out", "--model", "tiny")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("Error: ") and expected in proc.stderr and proc.stderr.count("\n") == 1
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_k_above_what_the_engine_allows_is_a_usage_error_before_any_engine(tmp_path, tokenizer):
    src = traces(tmp_path, tokenizer)
    vocab = distill("score", src, "-o", tmp_path / "a", "--model", "tiny", "--logprobs", "100000")
    assert vocab.returncode == 2 and "--logprobs 100000: above the model's vocabulary of 49152" in vocab.stderr
    capped = distill("score", src, "-o", tmp_path / "b", "--model", "tiny", "--logprobs", "10",
                     "--engine-arg", "max_logprobs=5")
    assert capped.returncode == 2 and "above --engine-arg max_logprobs=5" in capped.stderr
    gen = distill("generate", src, "-o", tmp_path / "c", "--model", "tiny", "--logprobs-dtype", "float16")
    assert gen.returncode == 2 and "--logprobs-dtype is read only with --logprobs" in gen.stderr
    assert not any((tmp_path / d).exists() for d in "abc")


def kd_input(tmp_path) -> str:
    a = lp.from_flat([5, 9], [5, 5, 7, 9, 8, 1], [-0.1, -0.1, -2.0, -0.5, -0.2, -0.3], 2, prompt_ids=[1, 2, 3])
    df = pl.DataFrame({"id": ["a", "b"], "model": "m", "sample": 0, "verdict": ["correct", "incorrect"],
                       **lp.columns([a, None], 2, prefix="teacher_")})
    df = df.with_columns(pl.Series("token_ids", [[5, 9], None], dtype=pl.List(pl.Int32)))
    df.write_parquet(tmp_path / "scored.parquet")
    return str(tmp_path / "scored.parquet")


@pytest.mark.slow
def test_kd_export_aligns_top_k_to_input_positions_and_refuses_what_it_cannot_write(tmp_path):
    src = kd_input(tmp_path)
    proc = distill("export", src, "-o", tmp_path / "kd.parquet", "--format", "kd", "--allow-incorrect")
    assert proc.returncode == 0, proc.stderr
    got = pl.read_parquet(tmp_path / "kd.parquet")
    assert got.columns == ["id", "sample", "model", "input_ids", "completion_mask", "topk_ids", "topk_logprobs"]
    row = got.row(0, named=True)  # b had no top-K: left out
    assert got.height == 1 and row["input_ids"] == [1, 2, 3, 5, 9] and row["completion_mask"] == [0, 0, 0, 1, 1]
    assert row["topk_ids"] == [[0, 0]] * 3 + [[5, 7], [8, 1]]
    assert row["topk_logprobs"][:3] == [[float("-inf")] * 2] * 3
    assert sum(row["topk_logprobs"][3:], []) == pytest.approx([-0.1, -2.0, -0.2, -0.3])
    jsonl = distill("export", src, "-o", tmp_path / "kd.jsonl", "--format", "kd", "--allow-incorrect")
    assert jsonl.returncode == 2 and "KD records are numeric arrays" in jsonl.stderr
    plain = tmp_path / "plain.parquet"
    pl.read_parquet(src).drop("teacher_topk_ids", "teacher_topk_logprobs").write_parquet(plain)
    missing = distill("export", plain, "-o", tmp_path / "kd2.parquet", "--format", "kd", "--allow-incorrect")
    assert missing.returncode == 2 and "no top-K columns" in missing.stderr
    assert not (tmp_path / "kd2.parquet").exists() and not (tmp_path / "kd.jsonl").exists()
