"""Consensus labels: prompts without a reference are labelled by their samples' majority, judged against it."""

from __future__ import annotations

import polars as pl
import pytest
from consensus_samples import prompts, samples

from distill_cli.stages.verify.consensus import ConsensusConfig, candidate, decide, split_prompts
from distill_cli.stages.verify.core import VerifyConfig, verify_frame


def _judged(pool, share: float, n_math: int, n_gsm: int) -> pl.DataFrame:
    """Each trace's verdict against the real reference (`ref`) and, with the references removed, by consensus."""
    df = pl.DataFrame(samples(prompts(n_math, n_gsm)))
    ref, _ = verify_frame(df, pool.cfg, pool=pool)
    cfg = VerifyConfig(workers=pool.cfg.workers, consensus=share)
    blind, stats = verify_frame(df.with_columns(pl.lit(None, pl.String).alias("answer")), cfg, pool=pool)
    assert stats["answer_source"].get("consensus", 0) == (blind["answer_source"] == "consensus").sum()
    return ref.select("id", "sample", "answer", pl.col("verdict").alias("ref")).join(
        blind.select("id", "sample", "verdict", "answer_source", "consensus_answer"), on=["id", "sample"])


@pytest.mark.slow
def test_consensus_verdicts_agree_with_reference_verdicts(pool):
    """Where the majority is right, consensus verdicts equal the reference verdicts trace for trace; the overall
    agreement then depends on how often a prompt's majority is wrong (measured, printed, and in
    docs/stages/verify.md: on these simulated samples it stays below the issue's 95% bar)."""
    both = _judged(pool, 0.6, 30, 30)
    assert set(both.filter(pl.col("answer_source").is_null())["verdict"]) <= {"unverifiable"}
    labelled = both.filter(pl.col("answer_source") == "consensus")
    assert 0 < labelled["id"].n_unique() < both["id"].n_unique()  # some prompts are too split to label
    labels = labelled.unique("id").select("id", response=pl.concat_str(
        pl.lit("\\boxed{"), "consensus_answer", pl.lit("}")),
                                          answer="answer", domain=pl.lit("math"))
    right, _ = verify_frame(labels, pool.cfg, pool=pool)
    right_ids = set(right.filter(pl.col("verdict") == "correct")["id"])
    majority_right = labelled.filter(pl.col("id").is_in(right_ids))
    assert majority_right.height > 0 and (majority_right["ref"] == majority_right["verdict"]).all()
    agree = (labelled["ref"] == labelled["verdict"]).mean()
    print(f"consensus 0.6: {labelled['id'].n_unique()}/{both['id'].n_unique()} prompts labelled, "
          f"{len(right_ids)} by a right majority; agreement {agree:.3f} on {labelled.height} traces")


def test_decide_share_min_samples_and_ties():
    cfg = ConsensusConfig(share=0.5, min_samples=4)
    same = {("0.5", "\\frac{1}{2}")}
    assert decide(["0.5", "\\frac{1}{2}", "\\frac{1}{2}", "0.5", "3", None], same, cfg) == ("0.5", 4 / 6)
    assert decide(["7", "7", "7", "1", "2", "3", "4", "5"], set(), cfg)[0] is None  # 3/8 below the share
    assert decide(["7", "7", "7"], set(), cfg) == (None, 1.0)  # fewer than 4 samples agree
    assert decide(["1", "1", "1", "1", "2", "2", "2", "2"], set(), ConsensusConfig(0.5, 2))[0] is None  # a tie
    assert candidate("<think>\\boxed{9}</think> so $\\boxed{\\dfrac{1}{2}}$.") == "\\frac{1}{2}"
    assert candidate("<think>unfinished") is None
    assert split_prompts([["a", "b"], ["c"], ["d", "b"]]) == ("b", 0, 2)
    assert split_prompts([["a", "a"], ["b"]]) is None


def test_rows_with_a_reference_keep_it(pool):
    rows = [{"id": "p", "answer": "4", "domain": "math", "response": "\\boxed{5}"},
            {"id": "q", "answer": None, "domain": "math", "response": "\\boxed{2}"}] + \
        [{"id": "r", "answer": None, "domain": "math", "response": f"\\boxed{{{a}}}"} for a in "33335"]
    cfg = VerifyConfig(workers=pool.cfg.workers, consensus=0.6)
    out, _ = verify_frame(pl.DataFrame(rows), cfg, pool=pool)
    got = list(zip(out["answer_source"], out["verdict"], out["consensus_answer"], strict=True))
    assert got[0] == ("reference", "incorrect", None)
    assert got[1] == (None, "unverifiable", None)  # one sample: below --consensus-min-samples
    assert got[2:] == [("consensus", "correct", "3")] * 4 + [("consensus", "incorrect", "3")]
    assert out["consensus_share"][2] == pytest.approx(0.8)


def test_a_cut_off_sample_votes_only_with_an_anchored_answer():
    """Real samples of the bundled model (bench-consensus) made a false majority of 40 out of three answers and a
    response cut off mid-reasoning whose last number happened to be 40; verify calls that response no_answer, so it
    must not vote either."""
    from distill_cli.stages.verify.consensus import label

    cut = "First, 2 times 20 is 40. Next we need the cost of the"
    assert candidate(cut) == "40" and candidate(cut, "length") is None
    assert candidate("So far \\boxed{40} and then", "length") == "40"
    assert candidate("The answer is 40. Let me check again: 41", "length") == "40"
    rows = [{"id": "p", "answer": None, "domain": "math", "response": f"\\boxed{{{a}}}", "finish_reason": "stop"}
            for a in ("40", "40", "40", "100", "8", "3", "10")]
    rows.append({"id": "p", "answer": None, "domain": "math", "response": cut, "finish_reason": "length"})
    out = label(pl.DataFrame(rows), ConsensusConfig(0.3, 4), lambda pairs: set())
    assert out["answer_source"].to_list() == [None] * 8  # three votes for 40, not four
    out = label(pl.DataFrame(rows).drop("finish_reason"), ConsensusConfig(0.3, 4), lambda pairs: set())
    assert set(out["consensus_answer"]) == {"40"}  # without finish_reason the cut is not known
