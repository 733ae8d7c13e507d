"""Semantic dedupe's core on stored embeddings: pair search against exact all-pairs cosine, clusters, the keep
rule, side-table rows, semantic decontamination, and the embedding cache (reuse, chunked saves)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from semantic_data import clustered, exact_pairs

from distill_cli.engines.embed import EmbeddingCache, embed_cached, text_keys
from distill_cli.stages.dedupe import DedupeConfig, dedupe_frame
from distill_cli.stages.dedupe.semantic import SEMANTIC_ROW, SemanticConfig, similar_pairs
from distill_cli.stages.dedupe.semantic_run import apply


@pytest.mark.parametrize("exact_up_to", [10_000, 0])  # faiss's exact index, then its IVF index
def test_pairs_match_exact_all_pairs_cosine(exact_up_to):
    vectors, _ = clustered(n_clusters=150, per_cluster=4, singles=1400, spread=0.02)
    expected = exact_pairs(vectors, 0.95)
    i, j, sim = similar_pairs(vectors, 0.95, nprobe=16, exact_up_to=exact_up_to)
    found = set(zip(i.tolist(), j.tolist(), strict=True))
    assert len(expected) >= 800  # 150 clusters x 6 pairs, and nothing else this close
    assert found <= expected | {p for p in found if abs(float(vectors[p[0]] @ vectors[p[1]]) - 0.95) < 1e-5}
    assert len(found & expected) / len(expected) >= (1.0 if exact_up_to else 0.99)
    assert (sim >= 0.95 - 1e-6).all()


def frame_and_embedder(vectors: np.ndarray, prompts: list[str]):
    by_text = dict(zip(prompts, vectors, strict=True))
    df = pl.DataFrame({"id": [f"p{k}" for k in range(len(prompts))], "prompt": prompts,
                       "response": [f"r{k}" * (k % 5 + 1) for k in range(len(prompts))]})

    def embed(texts: list[str]) -> np.ndarray:
        return np.stack([by_text[t] for t in texts])
    return df, embed


def run(df, embed, cfg, refs=None):
    result = dedupe_frame(df.with_row_index(SEMANTIC_ROW), DedupeConfig(exact=True), None)
    return apply(result, cfg, embed, refs)


def test_one_unit_per_cluster_survives_by_the_keep_rule():
    vectors, labels = clustered(n_clusters=5, per_cluster=3, singles=6, spread=0.02)
    prompts = [f"prompt number {k} " + "x" * int(k) for k in range(len(labels))]
    df, embed = frame_and_embedder(vectors, prompts)
    out = run(df, embed, SemanticConfig(threshold=0.95, keep="first"))
    kept_rows = [int(p.split()[2]) for p in out.kept["prompt"]]
    assert sorted(labels[kept_rows].tolist()) == sorted(set(labels.tolist()))  # one per cluster, every single
    for label in range(5):
        members = np.flatnonzero(labels == label)
        assert members.min() in kept_rows  # keep first: the earliest row of each cluster
    dups = out.duplicates
    assert dups.height == 10 and set(dups["kind"]) == {"semantic"}
    for row, kept, sim in dups.select("row", "kept_row", "similarity").iter_rows():
        assert labels[row] == labels[kept] and kept in kept_rows
        assert sim == pytest.approx(float(vectors[row] @ vectors[kept]), abs=1e-5)
    assert dups["kept_id"].to_list() == [f"p{k}" for k in dups["kept_row"]]
    assert out.stats["removed"]["semantic"] == 10 and "semantic_pairs" in out.stats
    longest = run(df, embed, SemanticConfig(threshold=0.95, keep="longest"))
    for label in range(5):
        members = np.flatnonzero(labels == label)
        assert f"prompt number {members.max()} " in " ".join(longest.kept["prompt"])  # longest text: highest k


def test_samples_of_one_prompt_go_together():
    vectors, labels = clustered(n_clusters=1, per_cluster=2, singles=1, spread=0.01)
    prompts = ["alpha problem", "alpha problem restated", "beta problem"]
    df, embed = frame_and_embedder(vectors, prompts)
    df = pl.concat([df, df.with_columns(pl.col("response") + "!")])  # two samples per prompt id
    out = run(df, embed, SemanticConfig(threshold=0.95))
    assert out.kept.height == 4 and out.duplicates.height == 2
    assert out.duplicates["id"].n_unique() == 1


def test_semantic_decontamination_lists_benchmark_and_similarity():
    vectors, labels = clustered(n_clusters=2, per_cluster=2, singles=3, spread=0.01)
    first = {int(lab): int(np.flatnonzero(labels == lab)[0]) for lab in (0, 1)}
    second = {int(lab): int(np.flatnonzero(labels == lab)[1]) for lab in (0, 1)}
    prompts = [f"text {k}" for k in range(len(labels))]
    df, embed = frame_and_embedder(vectors, prompts)
    refs = pl.DataFrame({"benchmark": ["aime2024", "math500"], "index": [3, 7],
                         "text": [prompts[second[0]], prompts[second[1]]]})
    kept_df = df.filter(~pl.col("prompt").is_in(refs["text"].implode()))  # the references are not in the data
    out = run(kept_df, embed, SemanticConfig(decontaminate=0.95), refs)
    cont = out.contamination.sort("benchmark")
    assert cont["prompt" if "prompt" in cont.columns else "id"].to_list() == [f"p{first[0]}", f"p{first[1]}"]
    assert cont["benchmark"].to_list() == ["aime2024", "math500"] and set(cont["match"]) == {"semantic"}
    assert cont["bench_index"].to_list() == [3, 7] and (cont["similarity"] > 0.95).all()
    assert out.kept.height == kept_df.height - 2


def test_embeddings_are_saved_per_chunk_and_reused(tmp_path, monkeypatch):
    import distill_cli.engines.embed as embed_module

    monkeypatch.setattr(embed_module, "CHUNK", 4)
    calls: list[int] = []
    rng = np.random.default_rng(1)
    table = {f"t{k}": rng.standard_normal(8) for k in range(20)}

    def engine(texts: list[str]) -> np.ndarray:
        calls.append(len(texts))
        return np.stack([table[t] for t in texts])

    cache = EmbeddingCache(tmp_path, "model-a")
    first, counts = embed_cached([f"t{k}" for k in range(10)], engine, cache)
    assert calls == [4, 4, 2] and counts == {"embedded": 10, "reused": 0}
    assert len(list(cache.dir.glob("chunk-*.parquet"))) == 3
    assert np.allclose(np.linalg.norm(first, axis=1), 1)
    again, counts = embed_cached([f"t{k}" for k in range(5, 15)], engine, cache)  # 5 old, 5 new
    assert calls[3:] == [4, 1] and counts == {"embedded": 5, "reused": 5}
    assert np.allclose(again[:5], first[5:])
    assert not EmbeddingCache(tmp_path, "model-b").lookup(text_keys(["t1"]))[1].any()  # each model its own
    vectors, found = cache.lookup(text_keys(["t14", "nope", "t0"]))  # only what is asked for, in that order
    assert found.tolist() == [True, False, True] and vectors.shape == (3, 8)
    assert np.allclose(vectors[0], again[-1]) and np.allclose(vectors[2], first[0]) and not vectors[1].any()
    dup, counts = embed_cached(pl.Series(["t3", "t3", "t0"]), engine, cache)  # repeats, as a polars Series
    assert counts == {"embedded": 0, "reused": 2} and np.allclose(dup, first[[3, 3, 0]])
    assert len(text_keys(["a"])[0]) == 32


def test_survivors_keep_one_copy_of_a_prompt_and_the_same_units():
    """8 samples a prompt held 8 copies of it: one copy a run of an id is kept, and a unit's text (its first row's)
    is the same."""
    from distill_cli.stages.dedupe.core import CONTAMINATION_SCHEMA, DUPLICATES_SCHEMA, DedupePlan
    from distill_cli.stages.dedupe.semantic import units_of
    from distill_cli.stages.dedupe.semantic_run import survivors
    from distill_cli.stages.dedupe.units import ROW

    ids = ["a", "a", "b", None, None, "b", "c", "a"]
    rows = pl.LazyFrame({ROW: range(8), "id": ids, "prompt": [f"text of {i} at {k}" for k, i in enumerate(ids)]},
                        schema_overrides={ROW: pl.Int64})
    removed = pl.DataFrame({"row": [6]}).select(  # row 6 (unit c) was an exact duplicate
        *[pl.col("row").cast(d) if c == "row" else pl.lit(None, d).alias(c) for c, d in DUPLICATES_SCHEMA.items()])
    plan = DedupePlan(removed, pl.DataFrame(schema=CONTAMINATION_SCHEMA), {})
    kept = survivors(rows, plan, "prompt")
    assert kept["prompt"].to_list() == ["text of a at 0", None, "text of b at 2", "text of None at 3",
                                        "text of None at 4", "text of b at 5", "text of a at 7"]
    full = rows.filter(pl.col(ROW) != 6).rename({ROW: SEMANTIC_ROW}).collect()
    assert units_of(kept, "prompt").equals(units_of(full, "prompt"))
