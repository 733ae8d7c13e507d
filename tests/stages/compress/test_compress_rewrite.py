"""rewrite: difficulty-aware prompts, run through the real openai backend against the fault-injecting server
(faults off) on loopback, then re-verified; finished rewrites are checkpointed and never requested twice."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))  # `tests.*` helpers (no tests/__init__.py)

import polars as pl  # noqa: E402
import pytest  # noqa: E402

from distill_cli.answers import last_boxed  # noqa: E402
from distill_cli.progress import Progress  # noqa: E402
from distill_cli.stagedir.checkpoint import ShardCheckpoint  # noqa: E402
from distill_cli.stages.compress import RewriteConfig, RewriteOutcome  # noqa: E402
from distill_cli.stages.compress.rewrite import make_job, parse_output, target_words  # noqa: E402
from tests.stages.compress.compress_traces import fraction, frame, janet  # noqa: E402
from tests.support import distill_env, fault_server  # noqa: E402
from tests.support.openai_fault_server import completion  # noqa: E402

TEMPLATE = "Rewrite this in {target_length} (difficulty: {difficulty}).\n\nProblem: {problem}\n\n{reasoning}\n"
MODEL = "fault-model"


def test_target_length_follows_difficulty():
    cfg = RewriteConfig(template=TEMPLATE)
    reasoning = " ".join(["word"] * 400)
    assert target_words(reasoning, "easy", cfg) == 120
    assert target_words(reasoning, "hard", cfg) == 280
    assert target_words(reasoning, None, cfg) == 200  # no grade: the default share
    assert target_words("two words", "easy", cfg) == cfg.min_words
    job = make_job({"id": "p1", "sample": 2, "prompt": "What is 5 + 7?", "difficulty": "hard"}, reasoning, cfg)
    expected = f"Rewrite this in about 280 words (difficulty: hard).\n\nProblem: What is 5 + 7?\n\n{reasoning}\n"
    assert job.prompt == expected
    assert job.max_tokens == 728 and job.sample == 2
    assert make_job({"id": "p1", "sample": 3}, reasoning, cfg).key != make_job({"id": "p1", "sample": 2}, reasoning,
                                                                               cfg).key


def test_parse_output_takes_the_text_after_the_models_own_thinking():
    assert parse_output(RewriteOutcome("<think>plan it</think>\n\nShort trace. \\boxed{3}")) == \
        ("Short trace. \\boxed{3}", None)
    assert parse_output(RewriteOutcome(None, "length")) == (None, "length")
    assert parse_output(RewriteOutcome("<think>only thinking</think>")) == (None, "empty")
    assert parse_output(None) == (None, "missing")


def _server_answer(row: dict, cfg: RewriteConfig) -> str:
    """What the fault server will answer to this row's rewrite request (its answers are a hash of the request)."""
    job = make_job(row, row["reasoning"], cfg)
    body = {"messages": [{"role": "user", "content": job.prompt}], "max_tokens": job.max_tokens}
    return last_boxed(completion(job.key, body, False)["choices"][0]["message"]["content"])


@pytest.mark.slow  # a server, a command and a verifier pool
def test_rewrite_command_reverifies_and_reverts(tmp_path, run_distill):
    cfg = RewriteConfig(template=TEMPLATE, max_tokens=4096, temperature=0.3)  # the command's defaults
    good = janet(difficulty="easy")
    good["answer"] = _server_answer(good, cfg)  # this rewrite will conclude with the reference answer
    bad = fraction(difficulty="hard")  # the server's integer answer is not 14/3: the rewrite must be undone
    src = tmp_path / "graded.parquet"
    frame(good, bad).write_parquet(src)
    (tmp_path / "rewrite.txt").write_text(TEMPLATE)
    with fault_server() as server:
        res = run_distill("compress", src, "-o", tmp_path / "out", "-s", "rewrite", "--backend", "openai",
                          "--model", MODEL, "--base-url", server.base_url, "--template", tmp_path / "rewrite.txt",
                          env=distill_env())
        assert res.returncode == 0, res.stderr
        seen = server.stats()
    assert seen["total_received"] == 2
    prompts = {b["messages"][0]["content"].split("\n")[0] for b in seen["bodies"].values()}
    assert prompts == {
        f"Rewrite this in about {target_words(bad['reasoning'], 'hard', cfg)} words (difficulty: hard).",
        f"Rewrite this in about {target_words(good['reasoning'], 'easy', cfg)} words (difficulty: easy).",
    }
    out = pl.read_parquet(tmp_path / "out" / "part-*.parquet")
    assert out["compression"].to_list() == ["rewrite", "reverted:rewrite"]
    assert out["reasoning"][0] == f"The answer is \\boxed{{{good['answer']}}}."
    assert out["completion"][0] == f"<think>\n{out['reasoning'][0]}\n</think>\n\n{good['response']}"
    assert out["reasoning"][1] == bad["reasoning"] and out["completion"][1] == bad["completion"]
    stats = json.loads((tmp_path / "out" / "_stats.json").read_text())
    assert stats["reverted"] == {"rewrite": 1}


def test_finished_rewrites_are_never_requested_twice(tmp_path):
    from distill_cli.engines.openai_backend import OpenAIBackend
    from distill_cli.stagedir.runner import ShardTask
    from distill_cli.stages.compress.run import _rewriter

    cfg = RewriteConfig(template=TEMPLATE)
    jobs = [make_job(r, r["reasoning"], cfg) for r in (janet(), fraction())]
    with fault_server() as server, Progress("test", None, quiet=True) as bar:
        task = ShardTask(0, None, ShardCheckpoint(tmp_path / "work"), bar)
        backend = OpenAIBackend(MODEL, server.base_url, concurrency=2)
        try:
            first = _rewriter(task, lambda: backend, 0.3)(jobs)
            assert server.stats()["total_received"] == 2
            again = _rewriter(task, lambda: backend, 0.3)(jobs)  # as a resumed run would
            assert server.stats()["total_received"] == 2
        finally:
            backend.close()
    assert first == again and set(first) == {j.key for j in jobs}
    assert all(o.text and "\\boxed" in o.text and o.error is None for o in first.values())


def test_the_default_template_ships_inside_the_package():
    import tomllib
    from importlib import resources

    from distill_cli.stages.compress.config import load_template as _template

    shipped = resources.files("distill_cli") / "templates" / "rewrite.txt"
    text = _template(None)
    assert text == shipped.read_text(encoding="utf-8")
    assert all(f"{{{k}}}" in text for k in ("problem", "reasoning", "answer", "difficulty", "target_length"))
    pyproject = tomllib.loads((Path(__file__).resolve().parents[3] / "pyproject.toml").read_text())
    assert "templates/*" in pyproject["tool"]["setuptools"]["package-data"]["distill_cli"]  # so a wheel has it
