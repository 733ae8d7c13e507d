"""MinHash, LSH and the dedupe core on planted exact and near duplicates."""

import random

import numpy as np
import polars as pl
import pytest

from distill_cli.stages.dedupe import DedupeConfig, dedupe_frame
from distill_cli.stages.dedupe.lsh import candidate_pairs, choose_bands, components, detection_probability
from distill_cli.stages.dedupe.minhash import jaccard, signatures
from distill_cli.stages.dedupe.references import bundled_dir

WORDS = [f"w{i}" for i in range(5000)]


def _true_jaccard(a: str, b: str, n: int) -> float:
    def grams(t):
        w = t.split()
        return {tuple(w[i:i + n]) for i in range(len(w) - n + 1)}
    ga, gb = grams(a), grams(b)
    return len(ga & gb) / len(ga | gb)


def _edit(text: str, k: int, rng: random.Random) -> str:
    words = text.split()
    for i in rng.sample(range(len(words)), k):
        words[i] = "zz" + words[i]
    return " ".join(words)


def _problems(n: int) -> list[str]:
    return pl.read_ndjson(bundled_dir() / "math500_test.jsonl")["problem"].head(n).to_list()


def test_estimated_jaccard_tracks_true_jaccard():
    rng = random.Random(0)
    base = [" ".join(rng.choices(WORDS, k=60)) for _ in range(200)]
    edited = [_edit(t, rng.randint(1, 12), rng) for t in base]
    sig = signatures(pl.Series(base + edited), 3, 128, seed=1)
    est = jaccard(sig, np.arange(200), np.arange(200, 400))
    true = np.array([_true_jaccard(a, b, 3) for a, b in zip(base, edited, strict=True)])
    # sd of the estimator is sqrt(J(1-J)/128) <= 0.045; allow 4.5 sd
    assert np.abs(est - true).max() < 0.2
    assert abs(float(np.mean(est - true))) < 0.02


def test_default_bands_catch_pairs_at_the_threshold():
    for threshold in (0.5, 0.7, 0.8, 0.9):
        bands, rows = choose_bands(threshold, 128)
        assert bands * rows <= 128
        assert detection_probability(threshold, bands, rows) >= 0.99
    assert choose_bands(0.8, 128) == (21, 6)


def test_components_collapse_transitive_pairs_to_the_smallest_index():
    labels = components(7, np.array([5, 3, 4, 1]), np.array([6, 5, 2, 0]))
    assert labels.tolist() == [0, 0, 2, 3, 2, 3, 3]


def test_candidate_pairs_come_from_shared_bands_only():
    sig = np.array([[1, 1, 2, 1], [5, 5, 6, 7]], dtype=np.uint32)
    i, j = candidate_pairs(sig, bands=2, rows=1)
    assert sorted(zip(i.tolist(), j.tolist(), strict=True)) == [(0, 1), (0, 3), (1, 3)]


def test_planted_near_duplicates_found_distinct_problems_kept():
    rng = random.Random(3)
    problems = [p for p in _problems(300) if len(p.split()) >= 30][:120]
    planted = [_edit(p, 1, rng) for p in problems[:40]]  # one word of >= 30 changed: Jaccard >= ~0.8
    df = pl.DataFrame({"id": [f"p{i}" for i in range(len(problems))] + [f"d{i}" for i in range(40)],
                       "prompt": problems + planted})
    result = dedupe_frame(df, DedupeConfig(exact=False, near=0.7))
    dups = result.duplicates
    assert sorted(dups["id"].to_list()) == sorted(f"d{i}" for i in range(40))
    assert (dups["id"].str.slice(1) == dups["kept_id"].str.slice(1)).all()
    assert dups["kind"].unique().to_list() == ["near"] and (dups["similarity"] >= 0.7).all()
    assert result.kept["id"].to_list() == [f"p{i}" for i in range(len(problems))]


def test_transitive_chain_keeps_one_row():
    rng = random.Random(5)
    text = " ".join(rng.choices(WORDS, k=80))
    chain = [text]
    for _ in range(4):
        chain.append(_edit(chain[-1], 1, rng))
    df = pl.DataFrame({"prompt": chain})
    result = dedupe_frame(df, DedupeConfig(exact=False, near=0.8))
    assert result.kept["prompt"].to_list() == [text]
    assert result.duplicates["kept_row"].to_list() == [0, 0, 0, 0]


def test_exact_duplicates_after_normalization():
    df = pl.DataFrame({"id": ["a", "b", "c", "d"],
                       "prompt": ["What is 2+2?", "what is 2 + 2 ?", "WHAT IS 2+2", "What is 2+3?"]})
    result = dedupe_frame(df, DedupeConfig(exact=True))
    assert result.kept["id"].to_list() == ["a", "d"]
    assert result.duplicates.select("row", "id", "kind", "similarity", "kept_row", "kept_id").rows() == [
        (1, "b", "exact", 1.0, 0, "a"), (2, "c", "exact", 1.0, 0, "a")]


@pytest.mark.parametrize("keep, expected", [("first", "x0"), ("longest", "x2"), ("shortest", "x1"),
                                            ("best-score", "x3")])
def test_keep_policies(keep, expected):
    df = pl.DataFrame({"id": ["x0", "x1", "x2", "x3"],
                       "prompt": ["Solve  it now.", "solve it now", "Solve, it -- now!!", "SOLVE IT NOW"],
                       "score": [0.5, None, 0.1, 0.9]})
    result = dedupe_frame(df, DedupeConfig(exact=True, keep=keep))
    assert result.kept["id"].to_list() == [expected]
    assert set(result.duplicates["kept_id"]) == {expected}


def test_trace_rows_of_one_prompt_stay_together():
    # two samples per prompt; p1 duplicates p0's prompt, p2 is distinct
    df = pl.DataFrame({
        "id": ["p0", "p0", "p1", "p1", "p2", "p2"], "sample": [0, 1, 0, 1, 0, 1], "model": ["m"] * 6,
        "prompt": ["Add 1 and 2."] * 2 + ["add 1 and 2"] * 2 + ["Add 3 and 4."] * 2,
        "response": ["3", "3", "3", "4", "7", "7"], "score": [1.0, 1.0, 1.0, 0.0, 1.0, 1.0],
    })
    by_prompt = dedupe_frame(df, DedupeConfig(exact=True))
    assert by_prompt.kept.select("id", "sample").rows() == [("p0", 0), ("p0", 1), ("p2", 0), ("p2", 1)]
    assert by_prompt.duplicates.select("id", "sample", "model", "kept_id").rows() == [
        ("p1", 0, "m", "p0"), ("p1", 1, "m", "p0")]
    # best-score averages a prompt's rows: p0 (1.0) beats p1 (0.5)
    assert dedupe_frame(df, DedupeConfig(exact=True, keep="best-score")).kept["id"].unique().sort().to_list() == [
        "p0", "p2"]
    # per row on the prompt+response text: only identical (prompt, response) pairs collapse
    by_row = dedupe_frame(df, DedupeConfig(exact=True, on="both"))
    assert by_row.duplicates.select("id", "sample", "kept_id").rows() == [("p0", 1, "p0"), ("p1", 0, "p0"),
                                                                         ("p2", 1, "p2")]


def test_deterministic():
    rng = random.Random(9)
    texts = [" ".join(rng.choices(WORDS[:300], k=25)) for _ in range(300)]
    texts += [_edit(t, 1, rng) for t in texts[:100]]
    df = pl.DataFrame({"prompt": texts})
    runs = [dedupe_frame(df, DedupeConfig(exact=True, near=0.6)) for _ in range(2)]
    assert runs[0].duplicates.equals(runs[1].duplicates) and runs[0].kept.equals(runs[1].kept)
    assert runs[0].duplicates.height == 100
