"""Normalization and hashing: the invariants exact dedupe, MinHash and decontamination rely on."""

import numpy as np
import polars as pl

from distill_cli.stages.dedupe.text import ngram_hashes, normalize, shingle_hashes, stripped_key, word_hashes


def test_normalize_folds_case_width_punctuation_spacing_and_latex_spacing():
    texts = pl.Series(["Ｗｈａｔ is  2 + 2?", "what is 2+2", "Let $x\\,=\\!3$ ,\tthen\n y", None, "x \\quad y"])
    assert normalize(texts).to_list() == ["what is 2+2", "what is 2+2", "let x=3 then y", "", "x y"]


def test_normalize_keeps_math_symbols_apart():
    assert normalize(pl.Series(["2+3", "2=3", "2*3"])).n_unique() == 3


def test_stripped_key_ignores_numbers():
    keys = stripped_key(normalize(pl.Series(["Find 12 + 7.", "find 3+ 99", "Find 12 - 7."])))
    assert keys[0] == keys[1] != keys[2]


def test_ngram_windows_never_cross_documents():
    words = word_hashes(pl.Series(["a b c", "d", "e f"]))
    hashes, doc, start = ngram_hashes(words, 2)
    assert doc.tolist() == [0, 0, 2] and start.tolist() == [0, 1, 0]
    # the same words give the same n-gram hash wherever they occur; order matters
    again, _, _ = ngram_hashes(word_hashes(pl.Series(["x a b", "b a"])), 2)
    assert again[1] == hashes[0] and again[2] != hashes[0]


def test_short_documents_get_one_whole_text_shingle():
    hashes, offsets = shingle_hashes(pl.Series(["a b c d", "", "e f", "a b c d"]), 3)
    assert np.diff(offsets).tolist() == [2, 1, 1, 2]
    assert hashes[offsets[0]:offsets[1]].tolist() == hashes[offsets[3]:offsets[4]].tolist()
    assert hashes[offsets[1]] != hashes[offsets[2]]
