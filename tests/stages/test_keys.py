"""check_unique: the repeated (id, model, sample) keys an input holds, named as a group-by of every key names them."""

import polars as pl
import pytest

from distill_cli.errors import BadInput
from distill_cli.stages.keys import check_unique


def _frame(ids: list, samples: list) -> pl.LazyFrame:
    return pl.LazyFrame({"id": ids, "model": "m", "sample": samples, "prompt": "p"})


def test_unique_keys_pass_and_inputs_without_keys_have_none():
    n = 50_000
    check_unique(_frame([f"p{i // 8}" for i in range(n)], [i % 8 for i in range(n)]), "x", "dedupe")
    check_unique(pl.LazyFrame({"id": ["a", "a"], "prompt": ["p", "p"]}), "x", "dedupe")


def test_repeats_are_counted_and_the_first_in_input_order_is_named():
    ids = [f"p{i}" for i in range(1000)] + ["p7", "p3", "p7", None, None]
    samples = [0] * 1000 + [0, 0, 0, 1, 1]
    with pytest.raises(BadInput) as err:
        check_unique(_frame(ids, samples), "in.parquet", "export")
    assert str(err.value).startswith("in.parquet: 3 (id, model, sample) key(s) appear more than once, the first "
                                     "(id 'p3', model 'm', sample 0) 2 times; export would")
