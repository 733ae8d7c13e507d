"""Prices and usage: the bundled table, --price, name matching, the cost formula, and usage objects of each API."""

from __future__ import annotations

import pytest
import yaml

from distill_cli.engines.pricing import BUNDLED, load_table, lookup, parse_price, resolve, stage_cost
from distill_cli.engines.usage import usage_from_api
from distill_cli.errors import BadInput


def test_bundled_table_is_whole_and_dated():
    doc = yaml.safe_load(BUNDLED.read_text())
    table = load_table()
    assert len(table) == len(doc["models"]) >= 20
    for name, price in table.items():
        assert price.input > 0 and price.output >= price.input, name
        assert price.cached_input is None or price.cached_input < price.input, name
        assert "as of 20" in price.source and "https://" in price.source, name
    assert table["gpt-4o-mini"].batch_discount == 0.5 and table["deepseek-reasoner"].batch_discount == 0.0


@pytest.mark.parametrize("name,key", [("gpt-4o", "gpt-4o"), ("GPT-4o-2024-08-06", "gpt-4o"),
                                      ("openai/gpt-4o-mini", "gpt-4o-mini"),
                                      ("claude-sonnet-4-20250514", "claude-sonnet-4"),
                                      ("claude-3-5-haiku-latest", "claude-3-5-haiku")])
def test_lookup_matches_served_spellings(name, key):
    table = load_table()
    assert lookup(name, table) is table[key]


def test_lookup_does_not_guess():
    assert lookup("gpt-4o-turbo-ultra", load_table()) is None
    assert lookup("deepseek-ai/DeepSeek-R1", load_table()) is None  # a self-hosted model has no API price


def test_cost_formula_cached_and_batch():
    price = parse_price("in=2,out=8,cached=0.5")
    # 1000 prompt tokens of which 400 cached, 300 completion: 600*2 + 400*0.5 + 300*8 per million
    assert price.cost(1000, 300, 400) == pytest.approx((600 * 2 + 400 * 0.5 + 300 * 8) / 1e6)
    assert parse_price("in=2,out=8").cost(1000, 300, 400) == pytest.approx((1000 * 2 + 300 * 8) / 1e6)
    batch = resolve("gpt-4o", "openai-batch")
    assert batch.cost(1_000_000, 1_000_000) == pytest.approx((2.5 + 10.0) / 2)
    assert resolve("gpt-4o", "openai").cost(1_000_000, 1_000_000) == pytest.approx(12.5)
    # --price gives list prices: a batch backend halves them unless batch= says otherwise
    assert resolve("x", "anthropic-batch", "in=2,out=4").cost(1_000_000, 1_000_000) == pytest.approx(3.0)
    assert resolve("x", "anthropic-batch", "in=2,out=4,batch=0").cost(1_000_000, 1_000_000) == pytest.approx(6.0)


def test_resolve_order_and_local_engines(tmp_path):
    table = tmp_path / "prices.yaml"
    table.write_text("models:\n  my-served-model: {input: 1, output: 3}\n  gpt-4o: {input: 9, output: 9}\n")
    assert resolve("my-served-model", "openai", table_file=table).price.output == 3
    assert resolve("gpt-4o", "openai", table_file=table).price.input == 9  # the user's table wins
    assert resolve("gpt-4o", "openai", "in=1,out=1", table).price.source == "--price"
    local = resolve("tiny", "vllm")
    assert local.price is None and local.local and "--price" in local.note
    assert stage_cost(local, {"prompt": 10, "completion": 5})["usd"] is None
    assert resolve("tiny", "vllm", "in=0.1,out=0.1").cost(1_000_000, 0) == pytest.approx(0.1)
    with pytest.raises(BadInput, match="no price for model 'nope'"):
        resolve("nope", "openai").require("--max-cost")


@pytest.mark.parametrize("text,msg", [("in=3", "no output price"), ("in=x,out=2", "expected a number"),
                                      ("in=1,out=2,foo=3", "unknown key 'foo'"), ("3,15", "KEY=VALUE"),
                                      ("in=1,out=2,batch=1.5", "out of range")])
def test_bad_price_option_is_one_line(text, msg):
    with pytest.raises(BadInput, match=msg):
        parse_price(text)


def test_bad_price_table(tmp_path):
    bad = tmp_path / "p.yaml"
    bad.write_text("models: [gpt-4o]\n")
    with pytest.raises(BadInput, match="expected a mapping with `models:`"):
        load_table(bad)
    with pytest.raises(BadInput, match="cannot read"):
        load_table(tmp_path / "missing.yaml")


def test_usage_shapes():
    openai = usage_from_api({"prompt_tokens": 120, "completion_tokens": 80, "total_tokens": 200,
                             "prompt_tokens_details": {"cached_tokens": 64},
                             "completion_tokens_details": {"reasoning_tokens": 50}})
    assert (openai.prompt_tokens, openai.completion_tokens, openai.cached_tokens, openai.reasoning_tokens) == \
        (120, 80, 64, 50)
    vllm = usage_from_api({"prompt_tokens": 30, "completion_tokens": 7, "prompt_tokens_details": None})
    assert (vllm.cached_tokens, vllm.reasoning_tokens) == (None, None)  # not reported is not zero
    anthropic = usage_from_api({"input_tokens": 10, "output_tokens": 40, "cache_read_input_tokens": 100,
                                "cache_creation_input_tokens": 5})
    assert (anthropic.prompt_tokens, anthropic.completion_tokens, anthropic.cached_tokens) == (115, 40, 100)
    assert usage_from_api(None).prompt_tokens == 0
