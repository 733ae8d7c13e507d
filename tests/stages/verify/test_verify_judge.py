"""`verify --judge`: the judge's reply parsing, row choice and prompt, and the command against a fake judge server.

The server (tests/support/openai_fault_server.py --script) answers scripted verdicts per row, some malformed, some
after 500s, dropped connections or a delay; its per-key counters prove that every fallback row was asked exactly
once, through faults and through a SIGKILL and resume. Traces are real MATH-500 problems and references.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from verify_fixtures import jsonl

from distill_cli.errors import BadInput
from distill_cli.stages.verify.judge import (
    NO_REFERENCE,
    check_when,
    judge_answer,
    parse_verdict,
    read_template,
    render,
    wants_judge,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # `tests.support` (no tests/__init__.py)

from tests.support import distill_env, fault_server  # noqa: E402

MODEL = "fault-model"


@pytest.mark.parametrize("reply, verdict", [
    ("VERDICT: CORRECT", "correct"),
    ("verdict: incorrect", "incorrect"),
    ("The answers match.\n\n**Verdict:** Correct.", "correct"),
    ("<think>They differ... or do they? VERDICT: CORRECT</think>\nVERDICT: INCORRECT", "incorrect"),
    ('{"verdict": "correct", "why": "same value"}', "correct"),
    ('Here you go: {"correct": false}', "incorrect"),
    ("\\boxed{\\text{incorrect}}", "incorrect"),
    ("Correct", "correct"),
    ("no.", "incorrect"),
    ("Verdict = not correct", "incorrect"),
    ("CORRECT\n\nThe student's answer is CORRECT when it answers the problem", "correct"),  # the bundled model's
    ("Incorrect.\nThe correct answer is 5, not 6.", "incorrect"),
])
def test_parse_verdict_reads_the_forms_judges_use(reply, verdict):
    assert parse_verdict(reply) == verdict


@pytest.mark.parametrize("reply", [
    None, "", "   ", "I am not sure about this one.", "VERDICT: CORRECT\nVERDICT: INCORRECT",
    "<think>The student wrote 5, the reference is 5, so VERDICT: CORRECT",  # cut off while thinking
    "The student's answer is correctly simplified but", '{"verdict": "maybe"}', "correctness unclear",
    "Correct\nActually no: the student's answer differs from the reference.",
])
def test_parse_verdict_gives_none_for_what_does_not_decide(reply):
    assert parse_verdict(reply) is None


def test_fallback_asks_only_what_the_checkers_left_open():
    assert wants_judge("unverifiable", "reference_unparsable", "math", "fallback")
    assert wants_judge("unverifiable", "no_reference", "text", "fallback")
    assert wants_judge("no_answer", "no_answer_found", "math", "fallback")
    assert wants_judge("no_answer", "no_letter_found", "choice", "fallback")
    for verdict, reason in (("correct", None), ("incorrect", None), ("no_answer", "truncated"),
                            ("no_answer", "reasoning_unfinished"), ("timeout", "item_timeout")):
        assert not wants_judge(verdict, reason, "math", "fallback")
    assert not wants_judge("unverifiable", "bad_tests", "code", "always")  # code is decided by its tests
    assert wants_judge("correct", None, "math", "always")
    assert wants_judge("correct", None, "text", "domain:text") and not wants_judge("correct", None, "math",
                                                                                   "domain:text")


def test_prompt_holds_problem_reference_and_final_answer_not_the_trace():
    template = read_template(None)
    response = "<think>secret scratch work</think>So the value is \\boxed{\\frac{\\pi}{2}}."
    answer = judge_answer(response, None)
    assert answer == "\\frac{\\pi}{2}"
    prompt = render(template, "Find the angle.", "\\frac\\pi2", answer, None)
    assert "Find the angle." in prompt and "\\frac\\pi2" in prompt and answer in prompt
    assert "secret" not in prompt and "{trace}" not in prompt and "{answer}" not in prompt
    assert "secret" in render(template, "p", "r", answer, response)
    assert NO_REFERENCE in render(template, "p", None, answer, None)
    assert judge_answer("plain words " * 300, None).startswith("...")  # a long response: its tail


def test_stats_attribute_judged_verdicts_to_the_judge():
    """A judge-decided row's `verifier` is `judge`, so `verifiers` and `by_checker` count its verdict as the
    judge's; a judge_error row keeps the checker that left it open, a decided row the checker that decided it."""
    from distill_cli.stages.verify.core import verdict_stats
    from distill_cli.stages.verify.judge import JudgeConfig, Reply, apply_verdicts, plan_asks

    rows = pl.DataFrame({"id": ["a", "b", "c", "d"], "prompt": ["p"] * 4, "answer": ["4", "\\frac{", None, "4"],
                         "response": ["four", "\\boxed{2}", "blue", "\\boxed{4}"],
                         "verdict": ["no_answer", "unverifiable", "unverifiable", "correct"],
                         "score": [0.0, 0.0, 0.0, 1.0], "extracted": [None, "2", None, "4"],
                         "verifier": ["numeric", "math-verify", "none", "numeric"]})
    reasons = ["no_number", "reference_unparsable", "no_reference", None]
    cfg = JudgeConfig("m", read_template(None))
    asks = plan_asks(rows, cfg, ["math", "math", "text", "math"], reasons)
    assert [a.id for a in asks] == ["a", "b", "c"]
    replies = [Reply("VERDICT: CORRECT", "VERDICT: CORRECT"), Reply("no idea", "no idea"),
               Reply("Verdict: incorrect", "Verdict: incorrect")]
    out, new_reasons, _ = apply_verdicts(rows, cfg, asks, replies, reasons)
    assert out["verifier"].to_list() == ["judge", "math-verify", "judge", "numeric"]
    assert out["verdict_source"].to_list() == out["verifier"].to_list()
    stats = verdict_stats(out, reasons=new_reasons)
    assert stats["by_checker"] == {"judge": {"correct": 1, "incorrect": 1}, "math-verify": {"unverifiable": 1},
                                   "numeric": {"correct": 1}}
    assert stats["verifiers"] == {"judge": 2, "math-verify": 1, "numeric": 1}
    assert stats["reasons"] == {"reference_unparsable": 1}  # a judged row has no reason left


def test_option_values_are_checked(tmp_path):
    with pytest.raises(BadInput, match="--judge-when 'domain:code'"):
        check_when("domain:code")
    bad = tmp_path / "judge.txt"
    bad.write_text("Grade {answer}.")
    with pytest.raises(BadInput, match=r"must contain the placeholder\(s\) \{problem\}"):
        read_template(bad)


# ---- the command against a scripted judge server ------------------------------------------------------------------

def distill(*args, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "distill_cli", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=distill_env())


# (kind of trace, scripted reply, faults before the reply, delay): what the checkers leave open goes to the judge
CASES = [
    ("words", "VERDICT: CORRECT", [], 0.0),
    ("words", "VERDICT: INCORRECT", ["500", "500"], 0.0),
    ("words", '{"verdict": "correct"}', ["drop"], 0.0),
    ("words", "I cannot tell without more context.", [], 0.0),  # malformed
    ("no_reference", "Verdict: correct", [], 1.0),  # slow, then answers
    ("no_reference", "VERDICT: CORRECT\nVERDICT: INCORRECT", ["slow"], 0.0),  # malformed after a hang
    ("bad_reference", "VERDICT: INCORRECT", ["503"], 0.0),
    ("bad_reference", "<think>the student says", [], 0.0),  # never finished thinking: malformed
    ("boxed_right", "VERDICT: INCORRECT", [], 0.0),  # decided by math-verify: the judge is never asked
    ("boxed_wrong", "VERDICT: CORRECT", [], 0.0),
]
EXPECTED = {"VERDICT: CORRECT": "correct", "VERDICT: INCORRECT": "incorrect", '{"verdict": "correct"}': "correct",
            "Verdict: correct": "correct"}


def judge_traces(n_rounds: int = 1) -> pl.DataFrame:
    """Real MATH-500 problems; each row's prompt carries its marker, which the fake judge finds in its prompt."""
    problems = [p for p in jsonl("math500_test.jsonl") if p["answer"].lstrip("-").isdigit()]
    rows = []
    for i in range(n_rounds * len(CASES)):
        kind, p = CASES[i % len(CASES)][0], problems[i]
        response = {"words": "Working it through, the result is the value the problem asks for, in words only.",
                    "no_reference": "It is a matter of taste.", "bad_reference": f"So \\boxed{{{p['answer']}}}.",
                    "boxed_right": f"So \\boxed{{{p['answer']}}}.", "boxed_wrong": "So \\boxed{-12345}."}[kind]
        answer = {"no_reference": None, "bad_reference": "\\frac{"}.get(kind, p["answer"])
        rows.append({"id": f"p{i:02d}", "model": "teacher", "sample": 0, "prompt": f"[case-{i:02d}] {p['problem']}",
                     "response": response, "answer": answer, "domain": "text" if kind == "no_reference" else "math",
                     "finish_reason": "stop"})
    return pl.DataFrame(rows, schema_overrides={"answer": pl.String})


def script(tmp_path: Path, n_rounds: int = 1) -> Path:
    entries = {f"[case-{i:02d}]": {"reply": reply, "faults": faults, "delay": delay}
               for i, (_, reply, faults, delay) in enumerate(CASES * n_rounds)}
    path = tmp_path / "script.json"
    path.write_text(json.dumps(entries))
    return path


def judge_args(src: Path, out: Path, url: str, *extra) -> list:
    return ["verify", src, "-o", out, "--judge", MODEL, "--judge-url", url, *extra]


@pytest.mark.slow
def test_every_fallback_row_is_judged_once_through_faults(tmp_path):
    src = tmp_path / "traces.parquet"
    judge_traces().write_parquet(src)
    out = tmp_path / "verified"
    with fault_server(script=script(tmp_path), slow_seconds=1.0) as server:
        proc = distill(*judge_args(src, out, server.base_url, "--judge-concurrency", 4))
        stats = server.stats()
        again = distill(*judge_args(src, out, server.base_url))  # complete: nothing is asked again
        assert server.stats()["total_received"] == stats["total_received"]
    assert proc.returncode == 0, proc.stderr
    assert again.returncode == 0 and "already complete" in again.stdout + again.stderr
    df = pl.read_parquet(out / "part-00000.parquet").sort("id")
    asked = df.filter(pl.col("judge_verdict").is_not_null())
    assert asked["id"].to_list() == [f"p{i:02d}" for i in range(8)]  # the 8 open rows, not the 2 decided ones
    # each asked row's question reached the server and was answered exactly once, whatever faults came first
    assert len(stats["answered"]) == 8 and set(stats["answered"].values()) == {1}
    assert stats["total_received"] == 8 + sum(len(c[2]) for c in CASES[:8])
    for i, (_, reply, _, _) in enumerate(CASES[:8]):
        row = df.row(i, named=True)
        assert row["judge_output"] == reply and row["judge_model"] == MODEL and len(row["judge_prompt_hash"]) == 16
        if reply in EXPECTED:
            assert (row["verdict"], row["judge_verdict"], row["verdict_source"]) == (EXPECTED[reply],) * 2 + ("judge",)
            assert row["score"] == (1.0 if EXPECTED[reply] == "correct" else 0.0)
        else:  # malformed: judge_error, and the row keeps the checkers' open verdict, never a pass
            assert row["judge_verdict"] == "judge_error" and row["verdict"] in ("unverifiable", "no_answer")
            assert row["verdict_source"] != "judge"
    decided = df.filter(pl.col("id").is_in(["p08", "p09"]))
    assert decided["verdict"].to_list() == ["correct", "incorrect"]  # the scripted opposite was never asked
    assert decided["verdict_source"].to_list() == ["numeric"] * 2
    judged = json.loads((out / "_stats.json").read_text())["judge"]
    assert judged["verdicts"] == {"correct": 3, "incorrect": 2, "judge_error": 3}
    assert (judged["rows"], judged["requests"], judged["asked"], judged["resumed"]) == (8, 8, 8, 0)


def saved_judge_keys(out: Path) -> set[str]:
    chunks = sorted(out.glob("_work/*/judge/chunk-*.parquet"))
    return set(pl.concat([pl.read_parquet(c, columns=["request_key"]) for c in chunks])["request_key"]) \
        if chunks else set()


@pytest.mark.slow
def test_sigkill_and_resume_asks_only_what_had_no_reply(tmp_path):
    src, out = tmp_path / "traces.parquet", tmp_path / "verified"
    judge_traces(n_rounds=2).write_parquet(src)  # 16 rows to ask about
    with fault_server(script=script(tmp_path, 2), slow_seconds=1.0, hold_after=5) as server:
        args = judge_args(src, out, server.base_url, "--judge-checkpoint-every", "1", "--judge-concurrency", "2")
        first = subprocess.Popen([sys.executable, "-m", "distill_cli", *map(str, args)], env=distill_env(),
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        try:
            deadline = time.monotonic() + 120
            while len(saved_judge_keys(out)) < 5 and first.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)
            assert first.poll() is None, first.stderr.read().decode()
        finally:
            if first.poll() is None:
                os.killpg(first.pid, signal.SIGKILL)
            first.wait()
        kept, answered_before = saved_judge_keys(out), server.stats()["answered"]
        assert len(kept) == 5 and set(answered_before) == kept  # every reply paid for before the kill is saved
        server.control(hold_after=None)
        server.reset()
        second = distill(*args)
        answered_after = server.stats()["answered"]
    assert second.returncode == 0, second.stderr
    df = pl.read_parquet(out / "part-00000.parquet")
    assert df.filter(pl.col("judge_verdict").is_not_null()).height == 16
    # the resumed run asked exactly the 11 questions without a saved reply, each once; nothing answered was re-asked
    assert len(answered_after) == 11 and set(answered_after.values()) == {1} and not kept & set(answered_after)
    judged = json.loads((out / "_stats.json").read_text())["judge"]
    assert (judged["asked"], judged["resumed"]) == (11, 5)
    assert judged["verdicts"] == {"correct": 6, "incorrect": 4, "judge_error": 6}


@pytest.mark.slow
def test_judge_options_need_judge_and_are_checked(tmp_path):
    src = tmp_path / "traces.parquet"
    judge_traces().write_parquet(src)
    for extra, message in ((["--judge-when", "always"], "--judge-when is read only with --judge"),
                           (["--judge", "m", "--judge-url", "http://127.0.0.1:9/v1", "--judge-when", "domain:code"],
                            "--judge-when 'domain:code'"),
                           (["--judge", "m", "--judge-concurrency", "3"], "--judge-concurrency is read only with "
                                                                           "--judge-url"),
                           (["--judge", "m", "--judge-url", "http://127.0.0.1:9/v1", "--judge-dtype", "float16"],
                            "--judge-dtype is read only with --judge without --judge-url; it does nothing with "
                            "--judge-url"),
                           (["--judge", "tiny", "--judge-engine-arg", "enable_prefix_cachng=true"],
                            "--judge-engine-arg enable_prefix_cachng: not an argument of vllm.LLM; did you mean "
                            "enable_prefix_caching?")):
        proc = distill("verify", src, "-o", tmp_path / "out", *extra)
        assert proc.returncode == 2 and proc.stderr.strip().startswith("Error: ") and message in proc.stderr, \
            proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


def test_an_offline_judge_engine_takes_generates_engine_options():
    """--judge-dtype/--judge-max-model-len/--judge-engine-arg are recorded in the judge's params (they shape its
    replies), --judge-kv-cache-memory is not (a size, like generate's); all reach the engine's factory; an engine
    argument that has an option of its own is refused, naming the judge's option."""
    from distill_cli.stages.verify.judge import JudgeConfig
    from distill_cli.stages.verify.judge_run import JudgeSetup, _judge_engine

    engine, kv = _judge_engine("tiny", "float32", 1024, "512MiB", ["enable_prefix_caching=true", "max_num_seqs=8"])
    assert engine == {"dtype": "float32", "max_model_len": 1024,
                      "engine_args": {"enable_prefix_caching": True, "max_num_seqs": 8}} and kv == 512 * 2 ** 20
    setup = JudgeSetup(JudgeConfig("tiny", read_template(None), engine=engine), kv_cache_memory=kv)
    assert setup.cfg.params()["engine"] == engine and "kv" not in json.dumps(setup.cfg.params())
    make = setup.make_backend()
    assert make.args == ("tiny",) and make.keywords == {
        "dtype": "float32", "max_model_len": 1024, "quiet": False, "kv_cache_memory": kv,
        "engine_args": {"enable_prefix_caching": True, "max_num_seqs": 8}}
    assert setup.task_options(2) == {"num_cpus": 2, "num_gpus": 1}
    served = JudgeSetup(JudgeConfig("m", read_template(None)), url="http://127.0.0.1:9/v1")
    assert "engine" not in served.cfg.params() and served.task_options(2) == {"num_cpus": 2}
    with pytest.raises(BadInput, match="^--judge-engine-arg dtype: use --judge-dtype instead$"):
        _judge_engine("tiny", "auto", None, None, ["dtype=float16"])
    with pytest.raises(BadInput, match="^--judge-kv-cache-memory '1KiB'"):
        _judge_engine("tiny", "auto", None, "1KiB", None)


def test_same_question_is_one_request_and_a_second_pass_asks_nothing(tmp_path):
    """judge_shard in this process against the fake server: rows of one prompt with the same final answer share a
    request; `always` asks about decided rows too; a second pass over the same checkpoint sends nothing."""
    from distill_cli.engines.backends import openai_backend
    from distill_cli.progress import Progress
    from distill_cli.stagedir.checkpoint import ShardCheckpoint
    from distill_cli.stagedir.runner import ShardTask
    from distill_cli.stages.verify.judge import JudgeConfig
    from distill_cli.stages.verify.judge_run import Judge, judge_shard

    rows = pl.DataFrame({"id": ["a", "a", "a", "b"], "prompt": ["[case-00] two plus two"] * 3 + ["[case-01] x"],
                         "answer": ["4", "4", "4", "y"], "response": ["four", "four", "\\boxed{4}", "why"],
                         "verdict": ["no_answer", "no_answer", "correct", "incorrect"], "score": [0.0, 0.0, 1.0, 0.0],
                         "extracted": [None, None, "4", "why"], "verifier": ["numeric", "numeric", "numeric", "exact"]})
    reasons = ["no_number", "no_number", None, None]
    path = tmp_path / "script.json"
    path.write_text(json.dumps({"[case-00]": {"reply": "VERDICT: CORRECT"}, "[case-01]": {"reply": "wrong"}}))
    with fault_server(script=path) as server:
        for when, expect in (("fallback", 1), ("always", 3)):
            task = ShardTask(0, None, ShardCheckpoint(tmp_path / when), Progress("verify", 4, quiet=True))
            judge = Judge(JudgeConfig(MODEL, read_template(None), when=when), lambda: openai_backend(
                MODEL, server.base_url))
            out, new_reasons, stats = judge_shard(rows, task, judge, ["math"] * 4, reasons)
            assert (stats["requests"], stats["asked"]) == (expect, expect)
            assert server.stats()["total_answered"] == expect
            again = judge_shard(rows, task, judge, ["math"] * 4, reasons)  # replies come from the checkpoint
            assert (again[2]["asked"], again[2]["resumed"]) == (0, expect) and again[0].equals(out)
            server.reset()
        assert out["verdict"].to_list() == ["correct", "correct", "correct", "incorrect"]
        assert out["extracted"].to_list() == ["four", "four", "4", "why"] and new_reasons == [None] * 4
        assert out["verdict_source"].to_list() == ["judge"] * 4 and stats["changed"] == 2
