"""The C MinHash kernel against the numpy path it replaces, and the band sort against the stable argsort."""

import numpy as np
import polars as pl
import pytest

from distill_cli.stages.dedupe import lsh, native
from distill_cli.stages.dedupe.minhash import signatures, sketch
from distill_cli.stages.dedupe.references import bundled_dir
from distill_cli.stages.dedupe.text import normalize


def _real_texts() -> pl.Series:
    """Every MATH-500 and GSM8K problem, plus unicode, empty, null and one- to three-word texts."""
    math = pl.read_ndjson(bundled_dir() / "math500_test.jsonl")["problem"]
    gsm = pl.read_ndjson(bundled_dir() / "gsm8k_test.jsonl")["question"]
    odd = ["", None, "x", "two words", "three words here", "Ｆｕｌｌ　ｗｉｄｔｈ ｔｅｘｔ", "naïve café — déjà vu",
           "数学 问题 求 x 的 值", "∑_{i=1}^n i² = n(n+1)/2", "🙂 " * 50, " ".join(["same"] * 400)]
    return pl.concat([math, gsm, pl.Series(odd, dtype=pl.String)])


@pytest.fixture(scope="module")
def kernel():
    k = native.kernel()
    if k is None:
        pytest.skip("no C compiler: the numpy path is the only one")
    return k


@pytest.mark.parametrize("shingle,num_perm,seed", [(3, 126, 1), (5, 128, 7), (1, 20, 3)])
def test_kernel_signatures_equal_numpy_bit_for_bit(kernel, shingle, num_perm, seed):
    norm = normalize(_real_texts())
    fast = signatures(norm, shingle, num_perm, seed)
    slow = signatures(norm, shingle, num_perm, seed, use_kernel=False)
    assert fast.shape == slow.shape == (num_perm, len(norm))
    assert fast.dtype == slow.dtype == np.uint16
    assert np.array_equal(fast, slow)
    assert len(np.unique(fast.T, axis=0)) > len(norm) * 0.9  # real signatures: distinct texts, distinct columns
    bands, rows = num_perm // 6, 6  # what the spill writes: signatures a row per document, and the band keys
    by_doc, keys = sketch(norm, shingle, num_perm, seed, bands, rows)
    assert np.array_equal(by_doc, slow.T) and np.array_equal(keys, lsh.band_keys(slow, bands, rows))
    fallback = sketch(norm, shingle, num_perm, seed, bands, rows, use_kernel=False)
    assert np.array_equal(fallback[0], by_doc) and np.array_equal(fallback[1], keys)


def test_kernel_handles_no_documents(kernel):
    empty = pl.Series([], dtype=pl.String)
    assert signatures(empty, 3, 16, 1).shape == (16, 0)
    by_doc, keys = sketch(empty, 3, 16, 1, 4, 4)
    assert by_doc.shape == (0, 16) and keys.shape == (4, 0)


def test_kernel_is_built_once_and_cached(kernel):
    path = native._library()
    assert path is not None and path.is_file()
    before = path.stat().st_mtime_ns
    assert native._library() == path and path.stat().st_mtime_ns == before


@pytest.mark.parametrize("keys", ["random", "shared_top_bits", "templated"])
def test_bucket_order_is_the_stable_argsort(keys):
    rng = np.random.default_rng(5)
    n = 200_000
    if keys == "random":
        key = rng.integers(0, 2**63, n, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
        key[rng.integers(0, n, 20_000)] = key[rng.integers(0, n, 20_000)]  # buckets of 2+
    elif keys == "shared_top_bits":  # many different keys per value of the top 32 bits
        key = (rng.integers(0, 40, n, dtype=np.uint64) << np.uint64(32)) | rng.integers(0, 5, n, dtype=np.uint64)
    else:  # a few huge buckets
        key = rng.integers(0, 3, n, dtype=np.uint64) * np.uint64(0x9E37_79B9_7F4A_7C15)
    order, ordered = lsh.bucket_order(key)
    expected = np.argsort(key, kind="stable")
    assert np.array_equal(order, expected)
    assert np.array_equal(ordered, key[expected])


def test_without_a_c_compiler_there_is_no_library(monkeypatch):
    monkeypatch.setattr(native.shutil, "which", lambda name: None)  # a machine without gcc or cc
    assert native._library() is None


def test_band_pairs_chain_an_oversize_bucket_by_the_secondary_key():
    rng = np.random.default_rng(3)
    key = rng.integers(0, 2**63, 40, dtype=np.uint64)
    key[:12], key[12:15] = 5, 7  # one bucket of 12 (over BUCKET_WINDOW + 1), one of 3
    secondary = rng.permutation(40).astype(np.uint64)
    report: dict = {}
    codes = lsh.band_pairs(key, secondary, report)
    pairs = {(int(c) // 40, int(c) % 40) for c in codes}
    chain = sorted(range(12), key=lambda u: (secondary[u], u))  # the big bucket in secondary-key order
    expected = {(min(a, b), max(a, b)) for a, b in zip(chain, chain[1:], strict=False)}
    expected |= {(12, 13), (12, 14), (13, 14)}
    assert pairs == expected and len(codes) == len(expected)
    assert report == {"oversize_buckets": 1, "oversize_members": 12, "largest_bucket": 12}
    called = []
    lazily = lsh.band_pairs(key, lambda: called.append(1) or secondary)
    assert np.array_equal(np.sort(lazily), np.sort(codes)) and called == [1]
    assert len(lsh.band_pairs(key[12:], lambda: called.append(2) or secondary)) == 3 and called == [1]  # not needed


@pytest.mark.parametrize("keep,kept", [("first", 0), ("longest", 1), ("shortest", 2)])
def test_plan_reads_text_lengths_for_keep_longest_and_shortest(tmp_path, keep, kept):
    from distill_cli.stages.dedupe import DedupeConfig
    from distill_cli.stages.dedupe.run import _plan

    path = tmp_path / "in.parquet"
    prompts = ["What is 2+2?", "  what is 2 + 2 ??  ", "what is 2+2", "Name a prime."]
    pl.DataFrame({"id": ["a", "b", "c", "d"], "prompt": prompts}).write_parquet(path)
    plan, _ = _plan(pl.scan_parquet(path), DedupeConfig(exact=True, keep=keep), None, tmp_path)
    assert sorted(plan.duplicates["row"].to_list()) == sorted({0, 1, 2} - {kept})
    assert set(plan.duplicates["kept_row"].to_list()) == {kept}
