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


def test_normalize_trims_in_its_symbol_regex_as_strip_chars_did():
    """The trim is an alternative of the symbol-space regex (one pass fewer): the same text as the earlier
    replace-then-strip_chars on real problems and on random runs of separators, symbols and odd whitespace."""
    import random

    from distill_cli.stages.dedupe import text
    from distill_cli.stages.dedupe.references import load_references

    atoms = [*"abXY09 ", "  ", "\t", "\r\n", "\x0b", ",", "?", "(", "-", "_", "\\", "+", "=", "<", "^", "|", "~", "`",
             "$", "\\quad", "\\qquad", "\\quadx", "\u00a0", "\u1680", "\u2028", "\u0085", "\u3000", "ｆｕ", "e\u0301",
             "∑", "×", "²", "🙂", "—", "½", "\u200b", "\x00"]
    rng = random.Random(7)
    fuzz = ["".join(rng.choice(atoms) for _ in range(rng.randint(0, 10))) for _ in range(20_000)]
    texts = pl.concat([load_references(["all"])["text"].cast(pl.String), pl.Series(fuzz, dtype=pl.String)])
    s = texts.fill_null("")
    wide = s.str.len_bytes() != s.str.len_chars()
    s = s.scatter(wide.arg_true(), s.filter(wide).str.normalize("NFKC"))
    spaced = s.str.to_lowercase().str.replace_all(text._SEPARATORS, " ")
    before = spaced.str.replace_all(r" ?(\p{S}) ?", "$1").str.strip_chars()
    assert normalize(texts).to_list() == before.to_list()
    assert normalize(pl.Series([" \u1680 a + b \u2028", "\u0085 ^x"])).to_list() == ["a+b", "^x"]
