"""The pure parts of generate: thinking split, request keys, rendering, rows and stats, on real-looking text."""

from __future__ import annotations

import json
import shlex

import polars as pl
import pytest

from distill_cli.engines.render import (
    apply_template,
    check_template,
    parse_template_kwargs,
    render_messages,
)
from distill_cli.engines.thinking import join_thinking, split_thinking
from distill_cli.engines.types import Result, Sampling
from distill_cli.errors import BadInput
from distill_cli.schema import TRACES
from distill_cli.stages.generate.core import (
    GenerateConfig,
    build_requests,
    check_ids,
    finished_keys,
    latest_results,
    result_row,
    results_frame,
    trace_stats,
    traces_frame,
)
from distill_cli.stages.generate.keys import request_key

R1_TRACE = (
    "<think>\nOkay, Janet's ducks lay 16 eggs. She eats 3 and bakes with 4, so 16 - 3 - 4 = 9 eggs are left.\n"
    "Each sells for $2, so 9 * 2 = 18.\n</think>\n\nShe makes **$18** every day.\n\n\\boxed{18}"
)


# --- thinking split -------------------------------------------------------------------------------------------

def test_split_full_think_block():
    reasoning, response = split_thinking(R1_TRACE)
    assert reasoning.startswith("Okay, Janet's ducks") and reasoning.endswith("9 * 2 = 18.")
    assert response == "She makes **$18** every day.\n\n\\boxed{18}"


def test_split_when_template_opened_the_tag():
    """DeepSeek-R1-Distill templates end the prompt with <think>: the completion only closes it."""
    completion = R1_TRACE.removeprefix("<think>\n")
    reasoning, response = split_thinking(completion, think_open=True)
    assert reasoning.startswith("Okay") and "<think>" not in reasoning
    assert response.endswith("\\boxed{18}")
    assert split_thinking(completion) == (reasoning, response)  # `</think>` alone is enough evidence


def test_trace_cut_off_inside_thinking_has_no_response():
    cut = "<think>\nLet me compute 16 - 3 - 4. That is 9. Then 9 times 2 is"
    assert split_thinking(cut) == ("Let me compute 16 - 3 - 4. That is 9. Then 9 times 2 is", "")
    # the prompt opened the thinking and the budget ran out before any tag appeared
    assert split_thinking("Let me compute 16 - 3 - 4 = 9", think_open=True) == ("Let me compute 16 - 3 - 4 = 9", "")


def test_no_tags_is_all_response():
    text = "Janet has 16 - 3 - 4 = 9 eggs left, so she makes 9 * 2 = $18.\n\\boxed{18}"
    assert split_thinking(text) == (None, text)
    assert split_thinking("  \n") == (None, "")


def test_server_reasoning_content_is_trusted():
    reasoning, response = split_thinking("The answer is \\boxed{18}.", reasoning_content="16-3-4=9; 9*2=18")
    assert (reasoning, response) == ("16-3-4=9; 9*2=18", "The answer is \\boxed{18}.")
    assert join_thinking(reasoning, response) == "<think>\n16-3-4=9; 9*2=18\n</think>\n\nThe answer is \\boxed{18}."


def test_only_first_close_tag_splits():
    text = "<think>a</think>Final: mention of </think> in prose"
    assert split_thinking(text) == ("a", "Final: mention of </think> in prose")


# --- rendering ------------------------------------------------------------------------------------------------

def test_template_keeps_latex_braces():
    prompt = "Compute $\\frac{1}{2} + \\frac{1}{3}$."
    template = "{prompt}\nPlease reason step by step, and put your final answer within \\boxed{}."
    assert apply_template(prompt, template) == prompt + "\nPlease reason step by step, and put your final " \
                                                        "answer within \\boxed{}."
    assert render_messages(prompt, "You are a helpful assistant.", template) == (
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": apply_template(prompt, template)},
    )
    assert render_messages(prompt) == ({"role": "user", "content": prompt},)


def test_the_template_an_error_suggests_works_when_copied_into_a_shell():
    with pytest.raises(BadInput) as err:
        check_template("Solve this:")
    suggested = shlex.split(str(err.value).split(" e.g. ", 1)[1])[-1]  # as a shell reads the quoted example
    check_template(suggested)
    prompt = "What is $\\frac{1}{2} + \\frac{1}{3}$?"
    # the user message gets the LaTeX a math verifier looks for, one pair of braces, no literal backslash-n
    assert apply_template(prompt, suggested) == (
        prompt + " Please reason step by step, and put your final answer within \\boxed{}.")


def test_bad_template_and_kwargs_are_bad_input():
    with pytest.raises(BadInput, match="must contain \\{prompt\\}"):
        check_template("Solve this:")
    with pytest.raises(BadInput, match="not valid JSON"):
        parse_template_kwargs("{enable_thinking: true}")
    with pytest.raises(BadInput, match="JSON object"):
        parse_template_kwargs("[1, 2]")
    assert parse_template_kwargs('{"enable_thinking": false}') == {"enable_thinking": False}


# --- keys -----------------------------------------------------------------------------------------------------

def test_key_changes_with_everything_that_shapes_the_request():
    msgs = render_messages("What is 12+7?")
    base = request_key("abc", 0, msgs, Sampling(max_tokens=64), "m")
    assert base == request_key("abc", 0, msgs, Sampling(max_tokens=64), "m")
    variants = [
        request_key("abd", 0, msgs, Sampling(max_tokens=64), "m"),
        request_key("abc", 1, msgs, Sampling(max_tokens=64), "m"),
        request_key("abc", 0, render_messages("What is 12+7?", "Be brief."), Sampling(max_tokens=64), "m"),
        request_key("abc", 0, msgs, Sampling(max_tokens=65), "m"),
        request_key("abc", 0, msgs, Sampling(max_tokens=64, seed=1), "m"),
        request_key("abc", 0, msgs, Sampling(max_tokens=64), "other-teacher"),
        request_key("abc", 0, msgs, Sampling(max_tokens=64), "m", {"enable_thinking": True}),
    ]
    assert len({base, *variants}) == 1 + len(variants)


# --- requests, rows, frames -----------------------------------------------------------------------------------

def prompts_frame() -> pl.DataFrame:
    return pl.DataFrame({
        "id": ["p1", "p2"],
        "prompt": ["Janet's ducks lay 16 eggs per day ...", "A robe takes 2 bolts of blue fiber ..."],
        "answer": ["18", "3"], "domain": ["math", "math"], "source": ["gsm8k", "gsm8k"],
        "tests": [None, None], "meta": [None, None], "extra_col": [1, 2],
    }, schema_overrides={"tests": pl.String, "meta": pl.String})


CFG = GenerateConfig(model="tiny", model_name="smollm2-135m-instruct", n=2, sampling=Sampling(max_tokens=64, seed=0),
                     prompt_template="{prompt} Put the answer in \\boxed{}.", engine={"dtype": "float32"})


def test_build_requests_order_and_keys():
    reqs = build_requests(prompts_frame(), CFG)
    assert [(r.id, r.sample) for r in reqs] == [("p1", 0), ("p1", 1), ("p2", 0), ("p2", 1)]
    assert len({r.key for r in reqs}) == 4
    assert reqs[0].messages[-1]["content"].endswith("Put the answer in \\boxed{}.")


def test_rows_frame_and_stats():
    reqs = build_requests(prompts_frame(), CFG)
    results = [
        Result(reqs[3], "The total is 2 + 1 = 3 bolts. \\boxed{3}", "stop", 60, 14, seed=0),
        Result(reqs[0], R1_TRACE, "stop", 70, 80, seed=0),
        Result(reqs[1], "<think>\n16 - 3 - 4 = 9, and 9 times", "length", 70, 64, seed=0),
        Result(reqs[2], "", "error", 0, 0, error="prompt (9000 tokens) is longer than max_model_len 1024", seed=0),
    ]
    rows = results_frame([result_row(r) for r in results])
    out = traces_frame(prompts_frame(), rows, CFG)
    assert list(out.columns[:len(TRACES)]) == list(TRACES) and "extra_col" in out.columns
    assert out.select("id", "sample").rows() == [("p1", 0), ("p1", 1), ("p2", 0), ("p2", 1)]
    first, cut, err, plain = out.iter_rows(named=True)
    assert first["response"].endswith("\\boxed{18}") and first["reasoning"].startswith("Okay")
    assert cut["response"] == "" and cut["reasoning"].startswith("16 - 3 - 4") and cut["finish_reason"] == "length"
    assert err["finish_reason"] == "error" and "max_model_len" in err["error"] and err["response"] == ""
    assert plain["reasoning"] is None and plain["response"].endswith("\\boxed{3}")
    assert set(out["model"]) == {"smollm2-135m-instruct"} and set(out["seed"]) == {0}
    assert json.loads(out["gen_params"][0])["max_tokens"] == 64
    stats = trace_stats(out)
    assert stats["tokens"] == {"prompt": 200, "completion": 158, "cached": 0, "reasoning": 0}
    assert stats["finish_reasons"] == {"stop": 2, "length": 1, "error": 1}
    assert stats["errors"] == 1 and stats["no_response"] == 2


def test_resume_keeps_newest_row_and_retries_errors():
    reqs = build_requests(prompts_frame(), CFG)
    old = results_frame([result_row(Result(reqs[0], "", "error", 0, 0, error="HTTP 503")),
                         result_row(Result(reqs[1], "answer \\boxed{18}", "stop", 70, 5))])
    assert finished_keys(old) == {reqs[1].key}  # the failed request is sent again
    new = results_frame([result_row(Result(reqs[0], "now \\boxed{18}", "stop", 70, 4))])
    merged = latest_results(pl.concat([old, new]))
    assert merged.height == 2
    assert merged.filter(pl.col("request_key") == reqs[0].key)["finish_reason"].to_list() == ["stop"]


def test_duplicate_or_missing_ids_are_bad_input():
    df = prompts_frame()
    with pytest.raises(BadInput, match="'p1' appears more than once"):
        check_ids(pl.concat([df, df.head(1)]), "prompts/part-00000.parquet")
    with pytest.raises(BadInput, match="no id or no prompt"):
        check_ids(df.with_columns(pl.lit(None, pl.String).alias("prompt")), "x.parquet")


def test_missing_optional_prompt_columns_are_filled():
    bare = pl.DataFrame({"id": ["p1"], "prompt": ["What is 12+7?"]})
    cfg = GenerateConfig(model="m", model_name="m", n=1)
    req = build_requests(bare, cfg)[0]
    out = traces_frame(bare, results_frame([result_row(Result(req, "19", "stop", 10, 2))]), cfg)
    assert out["answer"].to_list() == [None] and out["response"].to_list() == ["19"]
