"""collect's pure core: ids, normalization, answer mapping."""

import polars as pl
import xxhash

from distill_cli.stages.collect.core import normalize_prompt, prompt_id, prompt_ids


def test_ids_are_the_hash_of_the_normalized_prompt_on_both_paths():
    prompts = ["What is 1+1?", "What  is 1+1?", " What is 1+1?\n", "What\tis 1+1?", "Ｗhat is 1+1?",
               "caf\u00e9 au lait", "a\x1fb", "x\u00a0y"]
    fast = prompt_ids(pl.Series(prompts)).to_list()
    assert fast == [prompt_id(p) for p in prompts]
    # the reference implementation: ids of earlier versions were xxhash's hexdigest of the normal form
    assert fast == [xxhash.xxh3_64_hexdigest(normalize_prompt(p).encode()) for p in prompts]
    assert len(set(fast[:5])) == 1  # whitespace and full-width forms fold to one prompt
    assert normalize_prompt("x\u00a0y") == "x y" and fast[-1] == prompt_id("x y")


def test_normalize_keeps_the_prompt_text_as_written():
    from distill_cli.stages.collect.core import CollectConfig, normalize, resolve_fields

    df = pl.DataFrame({"question": ["What  is\t1+1?", "Plain one?"], "answer": ["2", "3"]}).with_row_index("__row")
    fields = resolve_fields(["question", "answer"], CollectConfig(), "t")
    kept, _ = normalize(df, fields, CollectConfig(), "t")
    assert kept["prompt"].to_list() == ["What  is\t1+1?", "Plain one?"]
    assert kept["id"].to_list() == [prompt_id("What is 1+1?"), prompt_id("Plain one?")]


def test_ids_do_not_change_between_versions():
    assert prompt_id("What is 1+1?") == "917955b07c943ad9"
    assert prompt_id("") == "2d06800538d394c2"


def test_choices_are_lettered_into_the_prompt_and_the_id_hashes_what_the_teacher_sees():
    from distill_cli.stages.collect.core import CollectConfig, normalize, resolve_fields

    df = pl.DataFrame({"question": ["  Which is prime?", "Pick the vowel."], "choices": [["4", "6", "7"], ["b", "e"]],
                       "answer": ["2", "B"]}).with_row_index("__row")
    fields = resolve_fields(["question", "choices", "answer"], CollectConfig(), "t")
    assert fields.domain == "choice"
    kept, rejects = normalize(df, fields, CollectConfig(), "t")
    assert rejects.height == 0
    assert kept["prompt"].to_list() == ["Which is prime?\n\nA. 4\nB. 6\nC. 7", "Pick the vowel.\n\nA. b\nB. e"]
    assert kept["answer"].to_list() == ["C", "B"]  # an index becomes its letter; a letter stays
    assert kept["id"].to_list() == [prompt_id(p) for p in kept["prompt"]]
