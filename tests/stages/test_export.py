"""export core: record shapes, the not-correct policy, DPO pairing, and the dataset card's numbers."""

from __future__ import annotations

import polars as pl
import pytest
from fake_run import MODELS, SAMPLING, make_run, n_correct

from distill_cli.errors import BadInput
from distill_cli.stages.export import card as cards
from distill_cli.stages.export.core import ExportConfig, export_frame, parse_think_tags


def frame() -> pl.LazyFrame:
    return pl.DataFrame({
        "id": ["a", "a", "b", "b"], "prompt": ["P1", "P1", "P2", "P2"],
        "reasoning": ["  r1\n", "r2", None, "r4"], "response": ["\n\nA1", "A2", "A3 ", "A4"],
        "model": ["m", "m", "m", "n"], "verdict": ["correct", "incorrect", "correct", "no_answer"],
        "pair_id": ["x", "x", "y", "y"], "pair_role": ["chosen", "rejected", "chosen", "rejected"],
    }).lazy()


def run(cfg: ExportConfig, lf: pl.LazyFrame | None = None) -> tuple[list[dict], dict]:
    records, _, stats = export_frame(frame() if lf is None else lf, cfg)
    return records.collect().to_dicts(), stats


def test_messages_wrap_reasoning_in_think_tags_and_skip_empty_reasoning():
    rows, stats = run(ExportConfig(incorrect="drop"))
    assert stats == {"dropped_not_correct": {"incorrect": 1, "no_answer": 1}}
    assert rows[0]["messages"] == [{"role": "user", "content": "P1"},
                                   {"role": "assistant", "content": "<think>\nr1\n</think>\n\nA1"}]
    assert rows[1]["messages"][1] == {"role": "assistant", "content": "A3"}  # no reasoning: no empty think block
    assert {k for k in rows[0] if k != "messages"} == {"id", "model"}


def test_custom_tags_system_prompt_and_no_meta():
    open_tag, close_tag = parse_think_tags("<reasoning>, </reasoning>")
    rows, _ = run(ExportConfig(incorrect="drop", think_open=open_tag, think_close=close_tag, system="Be brief.",
                               meta=False))
    assert list(rows[0]) == ["messages"]
    assert rows[0]["messages"][0] == {"role": "system", "content": "Be brief."}
    assert rows[0]["messages"][2]["content"] == "<reasoning>\nr1\n</reasoning>\n\nA1"
    with pytest.raises(BadInput, match="--think-tags"):
        parse_think_tags("<think>")


def test_reasoning_field_keeps_reasoning_out_of_content():
    rows, _ = run(ExportConfig(incorrect="drop", reasoning_field=True))
    assistant = rows[0]["messages"][-1]
    assert assistant == {"role": "assistant", "content": "A1", "reasoning_content": "r1"}
    assert rows[1]["messages"][-1]["reasoning_content"] is None
    with pytest.raises(BadInput, match="--reasoning-field"):
        run(ExportConfig(incorrect="drop", reasoning_field=True, style="alpaca"))


def test_sharegpt_and_alpaca_shapes():
    rows, _ = run(ExportConfig(incorrect="allow", style="sharegpt", system="S"))
    assert rows[0]["conversations"] == [{"from": "human", "value": "P1"},
                                        {"from": "gpt", "value": "<think>\nr1\n</think>\n\nA1"}]
    assert rows[0]["system"] == "S" and len(rows) == 4
    rows, _ = run(ExportConfig(incorrect="allow", style="alpaca"))
    assert rows[1] == {"instruction": "P1", "input": "", "output": "<think>\nr2\n</think>\n\nA2", "id": "a",
                       "model": "m"}


def test_refuses_not_correct_rows_naming_counts_and_unverified_input():
    with pytest.raises(BadInput, match=r"2 of 4 rows are not correct \(incorrect 1, no_answer 1\)"):
        run(ExportConfig())
    unverified = frame().drop("verdict")
    with pytest.raises(BadInput, match="no 'verdict' column"):
        run(ExportConfig(incorrect="drop"), unverified)
    rows, stats = run(ExportConfig(incorrect="allow"), unverified)
    assert len(rows) == 4 and "unverified" in stats


def test_a_failed_generation_is_never_exported_even_when_incorrect_rows_are_allowed():
    failed = frame().with_columns(
        finish_reason=pl.Series(["stop", "error", "length", None]),
        response=pl.Series(["A1", "", "A3", "A4"]))
    for policy in ("allow", "drop"):
        rows, stats = run(ExportConfig(incorrect=policy), failed)
        assert stats["dropped_failed_generations"] == 1
        assert all(r["messages"][-1]["content"] for r in rows)
    rows, stats = run(ExportConfig(incorrect="allow"), failed.drop("verdict"))
    assert len(rows) == 3 and stats == {"unverified": None, "dropped_failed_generations": 1}
    _, stats = run(ExportConfig(incorrect="allow"))
    assert "dropped_failed_generations" not in stats


def test_limit_counts_records():
    rows, _ = run(ExportConfig(incorrect="allow", limit=3))
    assert len(rows) == 3


def test_dpo_conversational_and_standard():
    rows, stats = run(ExportConfig(format="dpo"))
    assert stats == {"pairs": 2, "incomplete_pairs": 0}
    first = rows[0]
    assert first["prompt"] == [{"role": "user", "content": "P1"}]
    assert first["chosen"] == [{"role": "assistant", "content": "<think>\nr1\n</think>\n\nA1"}]
    assert first["rejected"] == [{"role": "assistant", "content": "<think>\nr2\n</think>\n\nA2"}]
    assert rows[1]["chosen_model"] == "m" and rows[1]["rejected_model"] == "n"
    rows, _ = run(ExportConfig(format="dpo", dpo_style="standard"))
    assert rows[1]["prompt"] == "P2" and rows[1]["chosen"] == "A3" and rows[1]["rejected"].endswith("A4")


def test_dpo_drops_half_pairs_and_refuses_doubled_roles():
    half = frame().head(3)  # pair y lost its rejected row
    rows, stats = run(ExportConfig(format="dpo"), half)
    assert len(rows) == 1 and stats == {"pairs": 1, "incomplete_pairs": 1}
    doubled = frame().with_columns(pair_role=pl.lit("chosen"))
    with pytest.raises(BadInput, match="more than one chosen or rejected"):
        run(ExportConfig(format="dpo"), doubled)
    with pytest.raises(BadInput, match="--system needs conversational"):
        run(ExportConfig(format="dpo", dpo_style="standard", system="S"))


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("run"))


def test_card_reports_the_runs_real_numbers(fake):
    cfg = ExportConfig()
    lf = pl.scan_parquet(sorted(str(p) for p in fake.deduped.glob("part-*.parquet")))
    records, used, stats = export_frame(lf, cfg)
    n = records.collect().height
    text = cards.render_card(cards.gather("sft.jsonl", cfg, n, stats, str(fake.deduped), used,
                                          cards.load_line("jsonl", "sft.jsonl")))
    deduped = pl.read_parquet(sorted(fake.deduped.glob("part-*.parquet")))
    assert f"**{deduped.height}** SFT conversations" in text
    for model in MODELS:  # exported records per teacher, from the data
        assert f"| {model} | {deduped.filter(pl.col('model') == model).height} |" in text
    for key, value in SAMPLING.items():  # sampling params, from the generate manifest
        assert f"| sampling.{key} | {value} |" in text
    verified = pl.read_parquet(sorted(fake.verified.glob("part-*.parquet")))
    correct_a = verified.filter((pl.col("model") == MODELS[0]) & (pl.col("verdict") == "correct")).height
    assert correct_a == sum(n_correct(p, 0) for p in range(6))
    assert f"| {MODELS[0]} | {correct_a} |" in text  # verdict table over all samples, from the verify stage
    zero = sum(1 for p in range(6) for m in range(len(MODELS)) if n_correct(p, m) == 0)
    assert f"| 0.00–0.10 | {zero} |" in text  # pass-rate histogram from the grade stage
    assert "contaminated rows removed: 1 (by benchmark: math500: 1)" in text
    assert "duplicate rows removed: 1" in text
    assert "`select`: by=difficulty, keep=['medium', 'hard'], verdict=correct" in text
    assert "| dedupe | `deduped` | 11 |" in text
    assert f"median {deduped['completion_tokens'].median():.0f}" in text


def test_card_says_when_nothing_was_decontaminated(fake):
    cfg = ExportConfig(incorrect="allow")
    lf = pl.scan_parquet(sorted(str(p) for p in fake.traces.glob("part-*.parquet")))
    records, used, stats = export_frame(lf, cfg)
    text = cards.render_card(cards.gather("t.jsonl", cfg, 48, stats, str(fake.traces), used, "ds = ..."))
    assert "not checked against benchmarks" in text
    assert "| verdicts admitted | unverified traces (the input has no verdict column) |" in text
