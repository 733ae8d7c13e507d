"""`distill dedupe --semantic` as a real process. Embeddings stored in the cache beforehand (what an earlier run
with the same model leaves there) make the run need no engine, and show that a re-run with another threshold
embeds nothing again; the vLLM pooling engine itself runs in the test marked vllm."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "stages" / "dedupe"))
from semantic_data import clustered  # noqa: E402

from distill_cli.engines.embed import EmbeddingCache, text_keys  # noqa: E402

MODEL = "/models/stored-embedder"  # a model path; its embeddings are all in the cache, so it is never loaded


@pytest.fixture
def stored(tmp_path):
    vectors, labels = clustered(n_clusters=4, per_cluster=3, singles=8, spread=0.02, dim=32)
    prompts = [f"Problem {k}: compute the value of expression number {k}." for k in range(len(labels))]
    path = tmp_path / "prompts.parquet"
    pl.DataFrame({"id": [f"p{k}" for k in range(len(prompts))], "prompt": prompts}).write_parquet(path)
    cache = tmp_path / "cache"
    EmbeddingCache(cache, MODEL).save(text_keys(prompts), vectors)
    return path, cache, labels


@pytest.mark.slow
def test_semantic_dedupe_from_stored_embeddings_and_rerun_with_new_threshold(stored, tmp_path, run_distill):
    path, cache, labels = stored
    out = tmp_path / "deduped"
    args = ["dedupe", path, "-o", out, "--embed-model", MODEL, "--embed-cache", cache]
    done = run_distill(*args, "--semantic", "0.95")
    assert done.returncode == 0, done.stderr
    kept = pl.read_parquet(out / "part-*.parquet")
    assert kept.height == 4 + 8  # one per cluster, every single
    dups = pl.read_parquet(out / "_duplicates.parquet")
    assert dups.height == 8 and set(dups["kind"]) == {"semantic"}
    for row, kept_row in dups.select("row", "kept_row").iter_rows():
        assert labels[row] == labels[kept_row] and kept_row < row  # keep first
    stats = json.loads((out / "_stats.json").read_text())
    assert stats["removed"]["semantic"] == 8
    assert stats["semantic_embeddings"] == {"embedded": 0, "reused": 20}
    assert "8 semantic duplicates" in " ".join(done.stderr.split())

    conflict = run_distill(*args, "--semantic", "0.5")
    assert conflict.returncode == 2 and "semantic" in conflict.stderr
    looser = run_distill(*args, "--semantic", "0.1", "--overwrite", "-q")  # random 32-d vectors: cos > 0.1 is common
    assert looser.returncode == 0, looser.stderr
    again = json.loads((out / "_stats.json").read_text())
    assert again["semantic_embeddings"] == {"embedded": 0, "reused": 20}  # the expensive part is not paid twice
    assert again["removed"]["semantic"] > 8


@pytest.mark.parametrize("args, message", [
    (["--semantic", "0.9"], "need --embed-model"),
    (["--semantic", "1.5", "--embed-model", "tiny"], "--semantic 1.5: the cosine threshold must be in (0, 1]"),
    (["--embed-model", "tiny"], "--embed-model is for --semantic"),
])
def test_semantic_usage_errors(stored, tmp_path, args, message):
    from typer.testing import CliRunner

    from distill_cli.cli import load
    from distill_cli.errors import BadInput

    path, _, _ = stored
    result = CliRunner().invoke(load(("dedupe",)), ["dedupe", str(path), "-o", str(tmp_path / "x"), *args])
    assert isinstance(result.exception, BadInput) and message in str(result.exception)
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_semantic_decontamination_reported_like_the_ngram_one(stored, tmp_path, run_distill):
    from distill_cli.stages.dedupe.references import load_references

    path, cache, _ = stored
    refs = load_references(["aime2024"])["text"].to_list()
    rng = np.random.default_rng(5)
    ref_vectors = rng.standard_normal((len(refs), 32)).astype(np.float32)
    EmbeddingCache(cache, MODEL).save(text_keys(refs), ref_vectors / np.linalg.norm(ref_vectors, axis=1)[:, None])
    # a prompt that means AIME 2024 problem 4 in other words: its stored embedding is that problem's
    prompts = pl.read_parquet(path)
    restated = pl.DataFrame({"id": ["copy"], "prompt": ["A lottery question about picking numbers, restated."]})
    pl.concat([prompts, restated]).write_parquet(path)
    EmbeddingCache(cache, MODEL).save(text_keys(restated["prompt"].to_list()), ref_vectors[4:5] / np.linalg.norm(
        ref_vectors[4]))
    out = tmp_path / "clean"
    done = run_distill("dedupe", path, "-o", out, "--embed-model", MODEL, "--embed-cache", cache,
                       "--decontaminate", "aime2024", "--decontaminate-semantic", "0.95", "-q")
    assert done.returncode == 0, done.stderr
    cont = pl.read_parquet(out / "_contamination.parquet")
    assert cont.select("id", "benchmark", "bench_index", "match").rows() == [("copy", "aime2024", 4, "semantic")]
    assert cont["similarity"][0] == pytest.approx(1.0, abs=1e-5)
    assert "copy" not in pl.read_parquet(out / "part-*.parquet")["id"].to_list()
