"""compress_frame: chains, re-verification with revert and drop, ratios, completions, passthrough, budgets."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # `tests.*` helpers (no tests/__init__.py)

import pytest  # noqa: E402

from distill_cli.errors import BadInput  # noqa: E402
from distill_cli.stages.compress import CompressConfig, compress_frame  # noqa: E402
from distill_cli.stages.compress.budget import estimate  # noqa: E402
from distill_cli.stages.compress.text import paragraphs  # noqa: E402
from tests.stages.compress import compress_fixtures  # noqa: E402
from tests.stages.compress.compress_traces import (  # noqa: E402
    FRACTION_PARAS,
    FRACTION_RESPONSE,
    JANET_PARAS,
    JANET_RESPONSE,
    SUM_PARAS,
    divisors,
    fraction,
    frame,
    janet,
    row,
    wobble,
)

equal = compress_fixtures.equal


def _run(df, equal, **kw):
    return compress_frame(df, CompressConfig(**kw), equal=equal)


def test_chain_rebuilds_completion_and_ratio(equal):
    df = frame(janet(), fraction())
    out, stats = _run(df, equal, strategies=("dedupe-reflections", "trim"), allowance=1)
    first = out.row(0, named=True)
    expected = JANET_PARAS[:6]  # dedupe keeps 8 paragraphs, trim then drops "Hmm." and cuts after the settled 18
    expected = [expected[0]] + expected[2:]
    assert paragraphs(first["reasoning"]) == expected
    assert first["reasoning"] == "\n\n".join(expected)
    assert first["completion"] == "<think>\n" + first["reasoning"] + "\n</think>\n\n" + JANET_RESPONSE
    assert first["response"] == JANET_RESPONSE
    assert first["reasoning_original"] == "\n\n".join(JANET_PARAS)
    assert first["compression"] == "dedupe-reflections+trim"
    assert first["compression_ratio"] == pytest.approx(len(first["reasoning"]) / len(first["reasoning_original"]))
    second = out.row(1, named=True)
    assert paragraphs(second["reasoning"]) == FRACTION_PARAS[:6]
    assert second["compression"] == "dedupe-reflections+trim"
    assert second["completion"].endswith("\n</think>\n\n" + FRACTION_RESPONSE)
    assert stats["strategies"]["dedupe-reflections"]["changed"] == 2
    assert stats["compressed"] == 2 and stats["chars_after"] < stats["chars_before"]
    assert out.columns[: df.width] == df.columns  # input columns kept, in order


def test_only_correct_rows_are_compressed_unless_all(equal):
    df = frame(janet(), fraction(verdict="incorrect"), divisors(verdict="no_answer"),
               row([], "\\boxed{1}", "1", "empty reasoning", reasoning=None))
    out, stats = _run(df, equal, strategies=("first-correct",))
    assert out["compression"].to_list() == ["first-correct", "none", "none", "none"]
    assert out["compression_ratio"].to_list()[1:] == [1.0, 1.0, 1.0]
    assert out["reasoning"].to_list()[1:] == df["reasoning"].to_list()[1:]
    assert out["completion"].to_list()[1:] == df["completion"].to_list()[1:]  # byte for byte
    assert stats["passthrough"] == {"incorrect": 1, "no_answer": 1, "no_reasoning": 1}
    assert stats["eligible"] == 1
    out, stats = _run(df, equal, strategies=("first-correct",), all_rows=True)
    assert out["compression"].to_list() == ["first-correct"] * 3 + ["none"]
    assert stats["passthrough"] == {"no_reasoning": 1}


def test_failed_reverification_reverts_and_the_chain_goes_on(equal):
    df = frame(wobble(), janet())
    out, stats = _run(df, equal, strategies=("first-correct", "dedupe-reflections"), extra_steps=1)
    # first-correct + 1 step would end on "the answer is 13": the cut is undone
    broken = out.row(0, named=True)
    assert broken["reasoning"] == "\n\n".join(SUM_PARAS)
    assert broken["compression"] == "reverted:first-correct"
    assert broken["compression_ratio"] == 1.0
    assert broken["completion"] == df["completion"][0]
    good = out.row(1, named=True)
    assert good["compression"] == "first-correct"  # dedupe has nothing left to remove after the cut
    assert paragraphs(good["reasoning"]) == JANET_PARAS[:6]
    assert stats["reverted"] == {"first-correct": 1}
    assert stats["strategies"]["first-correct"] == {"changed": 1, "unchanged": 0, "reverted": 1}
    assert stats["reverify"]["checked"] == 2


def test_failed_reverification_drops_with_on_fail_drop(equal):
    df = frame(wobble(), janet())
    out, stats = _run(df, equal, strategies=("first-correct",), extra_steps=1, on_fail="drop")
    assert out.height == 1 and out["prompt"][0] == df["prompt"][1]
    assert stats["dropped"] == {"reverify_failed:first-correct": 1}


def test_without_reverification_the_broken_cut_is_kept(equal):
    out, stats = _run(frame(wobble()), equal, strategies=("first-correct",), extra_steps=1, reverify=False)
    assert paragraphs(out["reasoning"][0]) == SUM_PARAS[:2]
    assert out["compression"][0] == "first-correct"
    assert "reverify" not in stats


def test_max_tokens_estimate_drops_or_marks(equal):
    df = frame(janet(), fraction())
    tokens = [estimate(c, c, n) for c, n in zip(df["completion"], df["completion_tokens"], strict=False)]
    assert tokens == df["completion_tokens"].to_list()  # an unchanged completion: its own token count
    budget = (tokens[0] + tokens[1]) // 2
    small, big = (0, 1) if tokens[0] < tokens[1] else (1, 0)
    out, stats = _run(df, equal, strategies=("max-tokens",), budget=budget)
    assert out.height == 1 and out["prompt"][0] == df["prompt"][small]
    assert out["trace_tokens"][0] == tokens[small] and out["over_budget"][0] is False
    assert stats["dropped"] == {"over_budget": 1} and stats["token_counter"] == "estimate"
    out, _ = _run(df, equal, strategies=("max-tokens",), budget=budget, mark=True)
    assert out.height == 2 and out["over_budget"][big] is True
    assert out["compression"].to_list() == ["none", "none"]


def test_max_tokens_after_a_cut_measures_the_cut_trace(equal):
    df = frame(janet())
    out, _ = _run(df, equal, strategies=("first-correct", "max-tokens"), budget=10**6)
    expected = estimate(out["completion"][0], df["completion"][0], df["completion_tokens"][0])
    assert out["trace_tokens"][0] == expected < df["completion_tokens"][0]


def test_words_estimate_without_completion_tokens():
    assert estimate("one two three four five six seven eight nine ten", None, None) == 13


def test_a_second_run_keeps_the_first_original(equal):
    first, _ = _run(frame(janet()), equal, strategies=("dedupe-reflections",))
    second, _ = _run(first, equal, strategies=("first-correct",))
    assert second["reasoning_original"][0] == "\n\n".join(JANET_PARAS)
    assert second["compression"][0] == "dedupe-reflections+first-correct"
    assert second["compression_ratio"][0] == pytest.approx(len(second["reasoning"][0]) / len("\n\n".join(JANET_PARAS)))


def test_config_errors_name_the_option():
    with pytest.raises(BadInput, match="--strategy 'shorten'"):
        CompressConfig(strategies=("shorten",))
    with pytest.raises(BadInput, match="--budget"):
        CompressConfig(strategies=("max-tokens",))
    with pytest.raises(BadInput, match="--on-fail"):
        CompressConfig(on_fail="ignore")  # type: ignore[arg-type]


def test_code_rows_skip_answer_checks(equal):
    code = row(JANET_PARAS, "```python\nprint(18)\n```", None, "write code", domain="code")
    out, stats = _run(frame(code), equal, strategies=("dedupe-reflections", "first-correct"))
    assert out["compression"][0] == "dedupe-reflections"
    assert stats["reverify"] == {"checked": 0, "skipped_no_answer_domain": 1}


def test_max_tokens_drops_over_budget_rows_without_reasoning(equal):
    """A non-thinking teacher's rows (reasoning null) are measured and dropped like any other (issue 22, item 2)."""
    long = "The total is 18. " * 40
    plain = row([], long, "18", "no thinking", reasoning=None, completion=long, completion_tokens=160)
    short = row([], "\\boxed{9}", "9", "short answer", reasoning=None, completion="\\boxed{9}", completion_tokens=5)
    wrong = row([], long, "7", "wrong and long", verdict="incorrect", reasoning=None, completion=long,
                completion_tokens=160)
    df = frame(plain, short, wrong)
    out, stats = _run(df, equal, strategies=("max-tokens",), budget=100)
    assert out["prompt"].to_list() == ["short answer"]
    assert out["trace_tokens"].to_list() == [5] and out["over_budget"].to_list() == [False]
    assert stats["dropped"] == {"over_budget": 2}
    assert stats["passthrough"] == {"no_reasoning": 3}
    out, _ = _run(df, equal, strategies=("max-tokens",), budget=100, mark=True)
    assert out["over_budget"].to_list() == [True, False, True] and out["trace_tokens"].to_list() == [160, 5, 160]


def test_whitespace_only_changes_are_not_counted_as_shortening(equal):
    """trim on a one-paragraph reasoning with a trailing newline changes only whitespace (issue 22, item 5)."""
    one = row(["Janet sells 16 - 3 - 4 = 9 eggs.\nShe makes 9 * 2 = 18 dollars."], "\\boxed{18}", "18", "eggs")
    one["reasoning"] += "\n"
    cut = janet()
    out, stats = _run(frame(one, cut), equal, strategies=("trim",))
    assert out["reasoning"][0] == one["reasoning"]  # left byte for byte
    assert out["compression"].to_list() == ["none", "trim"] and out["compression_ratio"][0] == 1.0
    assert stats["strategies"]["trim"] == {"changed": 1, "unchanged": 0, "whitespace_only": 1}
    assert stats["shortened"] == 1 and stats["compressed"] == 1 and stats["whitespace_only"] == 1
