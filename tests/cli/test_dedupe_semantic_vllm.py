"""`distill dedupe --semantic` with the real embedding engine: vLLM's pooling runner over the bundled model."""

from __future__ import annotations

import json

import polars as pl
import pytest
from support.cli import BENCHMARKS, distill

pytestmark = [pytest.mark.vllm, pytest.mark.slow]


def _result(out) -> tuple[pl.DataFrame, pl.DataFrame, dict]:
    return (pl.read_parquet(out / "part-*.parquet"), pl.read_parquet(out / "_duplicates.parquet"),
            json.loads((out / "_stats.json").read_text()))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("semantic")
    rows = [json.loads(line) for line in (BENCHMARKS / "gsm8k_test.jsonl").read_text().splitlines()[:8]]
    prompts = [r["question"] for r in rows]
    prompts.append("Please solve: " + prompts[1])  # the same problem, not an exact copy
    pl.DataFrame({"id": [f"p{k}" for k in range(len(prompts))], "prompt": prompts}).write_parquet(
        root / "prompts.parquet")
    args = ["dedupe", root / "prompts.parquet", "-o", root / "out", "--embed-model", "tiny",
            "--embed-cache", root / "cache", "-q"]
    first = distill(*args, "--semantic", "0.975")
    assert first.returncode == 0, first.stderr
    strict = _result(root / "out")
    again = distill(*args, "--semantic", "0.5", "--overwrite")  # a new threshold: no embedding is made again
    assert again.returncode == 0, again.stderr
    return root, strict, _result(root / "out")


def test_the_engine_embeds_and_the_restated_problem_is_a_semantic_duplicate(runs):
    root, (kept, dups, stats), _ = runs
    assert stats["semantic_embeddings"] == {"embedded": 9, "reused": 0}
    # measured with this model: the restated problem has cosine ~0.98 to its original, other pairs <= 0.96
    assert dups.select("id", "kind", "kept_id").rows() == [("p8", "semantic", "p1")]
    assert dups["similarity"][0] > 0.975 and kept.height == 8
    chunk = pl.read_parquet(next((root / "cache").glob("*/chunk-*.parquet")))
    assert chunk.height == 9 and chunk["embedding"].dtype.size == 576  # the model's hidden size


def test_a_rerun_with_another_threshold_reuses_every_embedding(runs):
    _, _, (kept, dups, stats) = runs
    assert stats["semantic_embeddings"] == {"embedded": 0, "reused": 9}
    # the 135M decoder's last-token embeddings of word problems are all alike (cosine > 0.8): one cluster
    assert kept["id"].to_list() == ["p0"] and dups.height == 8 and (dups["similarity"] > 0.5).all()
