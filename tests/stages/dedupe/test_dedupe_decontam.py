"""Decontamination against the bundled benchmarks, with real benchmark problems planted in several disguises."""

import re

import polars as pl
import pytest

from distill_cli.stages.dedupe import CONTAMINATION_SCHEMA, DedupeConfig, dedupe_frame
from distill_cli.stages.dedupe.decontam import build_index, find_contamination
from distill_cli.stages.dedupe.references import expand_specs, load_references
from distill_cli.stages.dedupe.text import normalize


@pytest.fixture(scope="module")
def refs() -> pl.DataFrame:
    return load_references(["all"])


def _item(refs: pl.DataFrame, bench: str, index: int) -> str:
    return refs.filter((pl.col("benchmark") == bench) & (pl.col("index") == index))["text"].item()


def _renumber(text: str) -> str:
    return re.sub(r"\d+", lambda m: str(int(m.group()) + 7), text)


def _respace(text: str) -> str:
    return re.sub(r"\s+", "   ", text).replace(",", " , ").replace("$", " $ ")


CLEAN = [
    "Let x be a real number such that x^2 = 49. Find the value of x + 3.",
    "Find the value of the sum of the first ten primes.",
    "Let x be a real number. Find the value of 3x if x is the smallest root of x^2 - 5x + 6.",
    "Write a function that reverses a string.",
    "A train leaves a station at noon travelling at 60 miles per hour towards a city 300 miles away.",
]


def test_planted_benchmark_problems_removed_in_every_disguise(refs):
    aime, gsm, math, mbpp = (_item(refs, "aime2024", 0), _item(refs, "gsm8k", 7), _item(refs, "math500", 42),
                             _item(refs, "mbpp", 10))
    planted = {
        "verbatim": aime,
        "respaced": _respace(gsm),
        "recased": math.upper(),
        "renumbered": _renumber(gsm),
        "embedded": f"Here is a homework problem from my class. {math} Please show all of your steps.",
        "code": f"{mbpp} Your code should pass the tests.",
        "renumbered_embedded": "Solve this: " + _renumber(_item(refs, "aime2025", 3)),
    }
    df = pl.DataFrame({"id": list(planted) + [f"clean{i}" for i in range(len(CLEAN))],
                       "prompt": list(planted.values()) + CLEAN})
    result = dedupe_frame(df, DedupeConfig(exact=False, decontaminate=("all",)), refs)
    assert result.kept["id"].to_list() == [f"clean{i}" for i in range(len(CLEAN))]
    table = result.contamination
    assert table.schema == pl.Schema(CONTAMINATION_SCHEMA)
    assert dict(zip(table["id"], table["benchmark"], strict=True)) == {
        "verbatim": "aime2024", "respaced": "gsm8k", "recased": "math500", "renumbered": "gsm8k",
        "embedded": "math500", "code": "mbpp", "renumbered_embedded": "aime2025"}
    by_id = {r["id"]: r for r in table.iter_rows(named=True)}
    assert by_id["verbatim"]["match"] == "exact" and by_id["verbatim"]["bench_index"] == 0
    assert by_id["embedded"]["match"] == "ngram" and by_id["embedded"]["bench_index"] == 42
    assert by_id["embedded"]["ngram"] in normalize(pl.Series([math])).item()
    assert len(by_id["embedded"]["ngram"].split()) == 8
    assert by_id["recased"]["bench_text"] == math[:200]


def test_common_phrases_alone_are_not_contamination(refs):
    # a competition-style problem whose only overlap with the benchmarks is a boilerplate 8-gram
    prompt = ("A bag has 5 red and 7 blue marbles. The probability that two drawn marbles match is m/n, "
              "where m and n are relatively prime positive integers. Find m+n.")
    result = dedupe_frame(pl.DataFrame({"prompt": [prompt, *CLEAN]}),
                          DedupeConfig(exact=False, decontaminate=("all",)), refs)
    assert result.contamination.height == 0 and result.kept.height == 1 + len(CLEAN)
    # open-r1's rule (any one shared 8-gram, no boilerplate filter) flags it on the boilerplate itself; the
    # boilerplate filter alone still lets the one 8-gram straddling the phrase through
    for common, shared in ((0, 7), (3, 1)):
        cfg = DedupeConfig(exact=False, decontaminate=("all",), common_ngram_items=common, min_ngrams=1)
        flagged = dedupe_frame(pl.DataFrame({"prompt": [prompt]}), cfg, refs).contamination
        assert flagged.select("match", "shared_ngrams").rows() == [("ngram", shared)]


def test_short_benchmark_items_match_exactly_only():
    refs = pl.DataFrame({"benchmark": ["tiny"], "index": [0], "text": ["Compute $\\dbinom{8}{4}$."]})
    index = build_index(refs, n=8, common_items=3)
    assert len(index.hashes) == 0  # fewer than 8 words: no n-gram
    hits = find_contamination(normalize(pl.Series([
        "compute \\dbinom{10}{5}", "Please compute $\\dbinom{8}{4}$ for me", "Compute the sum."])), index)
    assert hits.select("doc", "match").rows() == [(0, "exact")]


def test_reference_names_and_files(tmp_path):
    assert expand_specs(["math500,gsm8k", "gsm8k"]) == ["math500", "gsm8k"]
    assert len(expand_specs(["all"])) == 6
    path = tmp_path / "private_eval.jsonl"
    path.write_text('{"question": "How many legs do 17 spiders and 3 ants have altogether in this zoo?"}\n')
    refs = load_references([str(path)])
    assert refs.rows() == [("private_eval", 0, "How many legs do 17 spiders and 3 ants have altogether in this zoo?")]
    df = pl.DataFrame({"prompt": ["how many legs do 4 spiders and 9 ants have altogether in this zoo", "hi"]})
    result = dedupe_frame(df, DedupeConfig(exact=False, decontaminate=(str(path),)), refs)
    assert result.contamination["benchmark"].to_list() == ["private_eval"]


def test_bad_reference_names_are_user_errors(tmp_path):
    from distill_cli.errors import BadInput

    with pytest.raises(BadInput, match="not a bundled benchmark"):
        load_references(["math5000"])
    bad = tmp_path / "x.jsonl"
    bad.write_text('{"answer": 1}\n')
    with pytest.raises(BadInput, match="no problem column"):
        load_references([str(bad)])


def test_every_row_contaminated_leaves_an_empty_result(refs):
    prompts = refs.filter(pl.col("benchmark") == "aime2024")["text"].head(3).to_list()
    df = pl.DataFrame({"id": ["a", "b", "c"], "prompt": prompts})
    result = dedupe_frame(df, DedupeConfig(exact=True, near=0.8, decontaminate=("aime2024",)), refs)
    assert result.kept.height == 0 and result.kept.columns == ["id", "prompt"]
    assert result.contamination["id"].to_list() == ["a", "b", "c"] and result.duplicates.height == 0


def test_decontamination_alone_decides_batch_by_batch_like_the_full_plan(refs):
    """Decontamination alone streams 2-row batches (units split across batches, null ids) and removes what the full
    plan (with exact dedupe, which needs the whole input) removes: a unit goes when its FIRST row is a copy."""
    from distill_cli.stages.dedupe.decontam_scan import decontaminate_scan
    from distill_cli.stages.dedupe.units import ROW

    copy = _item(refs, "math500", 3)
    rows = [("a", 0, CLEAN[0]), ("b", 0, copy), ("a", 1, CLEAN[0]), ("c", 0, CLEAN[1]), ("c", 1, copy),
            (None, 0, _respace(copy)), ("b", 1, CLEAN[2]), (None, 0, CLEAN[3]), ("d", 0, _renumber(copy))]
    df = pl.DataFrame(rows, schema={"id": pl.String, "sample": pl.Int64, "prompt": pl.String}, orient="row")
    cfg = DedupeConfig(exact=False, decontaminate=("all",))
    framed = df.with_row_index(ROW).with_columns(pl.col(ROW).cast(pl.Int64))

    def batches(columns):
        return [framed.select(ROW, *columns).slice(s, 2) for s in range(0, df.height, 2)]

    alone = decontaminate_scan(batches, df.columns, cfg, refs)
    full = dedupe_frame(df, DedupeConfig(exact=True, decontaminate=("all",)), refs)
    assert alone.contamination.equals(full.contamination)
    assert alone.contamination["row"].to_list() == [1, 5, 6, 8]  # b (both rows), the null id, d; not c
    assert dedupe_frame(df, cfg, refs).kept["prompt"].to_list() == [CLEAN[0], CLEAN[0], CLEAN[1], copy, CLEAN[3]]
    assert alone.stats["removed"] == {"contaminated": 4, "exact": 0, "near": 0} and alone.stats["rows_in"] == 9
