"""`distill dedupe --semantic` with the real embedding engine: vLLM's pooling runner over the bundled model."""

from __future__ import annotations

import json

import polars as pl
import pytest
from support.cli import BENCHMARKS

pytestmark = [pytest.mark.vllm, pytest.mark.slow]


@pytest.fixture(scope="module")
def run(tmp_path_factory, run_distill_module):
    root = tmp_path_factory.mktemp("semantic")
    rows = [json.loads(line) for line in (BENCHMARKS / "gsm8k_test.jsonl").read_text().splitlines()[:8]]
    prompts = [r["question"] for r in rows]
    prompts.append(prompts[0] + " Give only the number.")  # the same problem, not an exact copy
    pl.DataFrame({"id": [f"p{k}" for k in range(len(prompts))], "prompt": prompts}).write_parquet(
        root / "prompts.parquet")
    args = ["dedupe", root / "prompts.parquet", "-o", root / "out", "--embed-model", "tiny",
            "--embed-cache", root / "cache"]
    first = run_distill_module(*args, "--semantic", "0.999", "-q")
    again = run_distill_module(*args, "--semantic", "0.5", "--overwrite", "-q")
    return root, first, again


@pytest.fixture(scope="module")
def run_distill_module():
    from support.cli import distill

    return distill


def test_engine_embeds_every_prompt_once_and_a_rerun_reuses_them(run):
    root, first, again = run
    assert first.returncode == 0, first.stderr
    assert again.returncode == 0, again.stderr
    stats = json.loads((root / "out" / "_stats.json").read_text())
    assert stats["semantic_embeddings"] == {"embedded": 0, "reused": 9}
    chunks = list((root / "cache").glob("*/chunk-*.parquet"))
    assert len(chunks) == 1 and pl.read_parquet(chunks[0]).height == 9
    assert pl.read_parquet(chunks[0])["embedding"].dtype.size == 576  # the model's hidden size


def test_a_low_threshold_clusters_everything_into_the_first_prompt(run):
    root, _, _ = run
    # a 135M decoder's last-token embeddings of English word problems are all alike (cosine > 0.5)
    dups = pl.read_parquet(root / "out" / "_duplicates.parquet")
    kept = pl.read_parquet(root / "out" / "part-*.parquet")
    assert kept["id"].to_list() == ["p0"] and dups.height == 8
    assert set(dups["kind"]) == {"semantic"} and (dups["similarity"] >= 0.5).all()
