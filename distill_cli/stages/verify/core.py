"""verify: decide for each trace whether its final answer is right (DESIGN.md: verified columns, verdicts).

`verify_frame` is the pure core the command, compress and the Ray executor call; `verify_one` checks a single item
in the current process and is what the pool's workers run. Every item is bounded: math/choice/text by `timeout`
(its worker is killed past it), code by `code_timeout` (the sandbox's process group is killed past it).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import polars as pl

from distill_cli.stages.verify.config import Domain, Verdict, VerifyConfig, error_verdict
from distill_cli.stages.verify.extract import final_response, normalize_text, text_candidate

__all__ = ["Verdict", "VerifyConfig", "verify_frame", "verify_one", "verdict_stats", "row_domain"]

OUTPUT = {"verdict": pl.String, "score": pl.Float64, "extracted": pl.String, "verifier": pl.String,
          "test_results": pl.List(pl.String), "code_language": pl.String, "code_checker": pl.String,
          "code_error": pl.String}
_LETTER_ONLY = ("A", "B", "C", "D", "E", "F", "G", "H", "I", "J")


def warm_up() -> None:
    """Import and exercise the math stack once, so a worker's first item is not charged for it."""
    from distill_cli.stages.verify.mathcheck import verify_math

    verify_math("\\boxed{\\frac{1}{2}}", "0.5")


def verify_one(response: str | None, answer: str | None, domain: str, tests: str | None, cfg: VerifyConfig,
               finish_reason: str | None = None, problem=None) -> Verdict:
    """One item, in this process, unbounded in time: call it inside a killable worker."""
    if domain == "math":
        from distill_cli.stages.verify.mathcheck import verify_math

        return verify_math(response, answer, finish_reason)
    if domain == "choice":
        from distill_cli.stages.verify.choice import verify_choice

        return verify_choice(response, answer)
    if domain == "code":
        from distill_cli.stages.verify.code import verify_code

        return verify_code(response, tests, cfg, problem)
    if domain == "text":
        return _verify_text(response, answer)
    return error_verdict(str(domain), f"unknown_domain:{domain}")


def _verify_text(response: str | None, answer: str | None) -> Verdict:
    """No grader for free text: unverifiable without a reference, a normalized exact match with one."""
    if answer is None or not str(answer).strip():
        return Verdict("unverifiable", 0.0, None, "none", "no_reference")
    text = final_response(response)
    candidate = text_candidate(text) if text else None
    if candidate is None:
        return Verdict("no_answer", 0.0, None, "exact", "no_answer_found")
    ok = normalize_text(candidate) == normalize_text(str(answer))
    return Verdict("correct" if ok else "incorrect", 1.0 if ok else 0.0, candidate.strip(), "exact")


def row_domain(domain: str | None, answer: str | None, tests: str | None, forced: Domain = "auto") -> str:
    """The forced domain, else the row's own, else a guess from what the row carries."""
    if forced != "auto":
        return forced
    if domain in ("math", "code", "choice", "text"):
        return domain
    if tests:
        return "code"
    if answer is None or not str(answer).strip():
        return "text"
    return "choice" if str(answer).strip().strip("()") in _LETTER_ONLY else "math"


def verify_frame(df: pl.DataFrame, cfg: VerifyConfig, pool=None, progress: Callable[[int], None] | None = None,
                 reason_column: str | None = None) -> tuple[pl.DataFrame, dict]:
    """Add verdict, score, extracted and verifier to every row; stats count verdicts per domain and model.

    Pass an open `VerifyPool` to reuse its workers across calls; otherwise one is started and closed here.
    `reason_column` also keeps each row's counted reason (the command checkpoints it to rebuild stats on resume).
    """
    from distill_cli.stages.verify.pool import VerifyPool

    if pool is None and df.height:
        with VerifyPool(cfg) as own:
            return verify_frame(df, cfg, own, progress, reason_column)
    if cfg.consensus is not None and "consensus_answer" not in df.columns:
        df = with_consensus(df, cfg, pool)
    items = _items(df, cfg)
    results: list[Verdict | None] = [None] * df.height

    def on_result(index: int, verdict: Verdict) -> None:
        results[index] = verdict
        if progress is not None:
            progress(1)

    if items:
        pool.run(items, on_result)
    if "answer_source" in df.columns:
        results = [Verdict("unverifiable", 0.0, None, "consensus", "no_consensus") if src is None else r
                   for r, src in zip(results, df.get_column("answer_source").to_list(), strict=True)]
    done = [r or error_verdict("unknown", "not_verified") for r in results]
    out = df.with_columns(
        pl.Series("verdict", [r.verdict for r in done], pl.String),
        pl.Series("score", [float(r.score) for r in done], pl.Float64),
        pl.Series("extracted", [r.extracted for r in done], pl.String),
        pl.Series("verifier", [r.verifier for r in done], pl.String),
        pl.Series("test_results", [list(r.tests) if r.tests is not None else None for r in done],
                  pl.List(pl.String)),
        pl.Series("code_language", [r.language for r in done], pl.String),
        pl.Series("code_checker", [r.checker for r in done], pl.String),
        pl.Series("code_error", [r.detail for r in done], pl.String),
    )
    if reason_column:
        out = out.with_columns(pl.Series(reason_column, [r.reason for r in done], pl.String))
    domains = [it.domain for it in items]
    return out, verdict_stats(out, domains, [r.reason for r in done])


def with_consensus(df: pl.DataFrame, cfg: VerifyConfig, pool) -> pl.DataFrame:
    """Label the prompts without a reference by their samples' consensus (consensus.py); needs every sample of a
    prompt in `df`."""
    from distill_cli.stages.verify.consensus import ConsensusConfig, label, pool_compare

    return label(df, ConsensusConfig(cfg.consensus, cfg.consensus_min_samples), pool_compare(pool))


def _items(df: pl.DataFrame, cfg: VerifyConfig) -> list:
    from distill_cli.stages.verify.pool import Item

    n = df.height

    def col(name: str) -> list:
        return df.get_column(name).cast(pl.String).to_list() if name in df.columns else [None] * n

    responses, answers, domains, tests, finish = (col(c) for c in ("response", "answer", "domain", "tests",
                                                                    "finish_reason"))
    if "answer_source" in df.columns:  # consensus labels stand in for the missing references (judged as math)
        labels, sources = col("consensus_answer"), col("answer_source")
        answers = [lab if src == "consensus" else a for a, lab, src in zip(answers, labels, sources, strict=True)]
        domains = ["math" if src == "consensus" else d for d, src in zip(domains, sources, strict=True)]
    items = [Item(i, responses[i], answers[i], row_domain(domains[i], answers[i], tests[i], cfg.domain), tests[i],
                  finish[i]) for i in range(n)]
    return [_with_problem(df, it, cfg) if it.domain == "code" else it for it in items]


PROBLEM_COLUMNS = ("language", "checker", "time_limit", "memory_limit", "memory_limit_bytes")


def _with_problem(df: pl.DataFrame, item, cfg: VerifyConfig):
    """A code item with its row's judging settings and the pool deadline they imply."""
    from dataclasses import replace

    from distill_cli.stages.verify.code import item_deadline
    from distill_cli.stages.verify.problem import problem_of

    row = {c: df.get_column(c)[item.index] for c in PROBLEM_COLUMNS if c in df.columns}
    problem = problem_of(row)
    return replace(item, problem=problem, deadline=item_deadline(item.tests, problem, cfg))


def verdict_stats(df: pl.DataFrame, domains: list[str] | None = None, reasons: list | None = None) -> dict:
    """Verdict counts overall, per domain and per model, plus the counted reasons behind non-plain verdicts."""
    verdicts = df.get_column("verdict").to_list()
    domains = domains if domains is not None else (
        df.get_column("domain").to_list() if "domain" in df.columns else ["unknown"] * df.height)
    stats: dict = {"verdicts": dict(Counter(verdicts)), "by_domain": {}, "verifiers": dict(
        Counter(df.get_column("verifier").to_list()))}
    for d, v in zip(domains, verdicts, strict=False):
        stats["by_domain"].setdefault(str(d), Counter())[v] += 1
    if "model" in df.columns:
        stats["by_model"] = {}
        for m, v in zip(df.get_column("model").to_list(), verdicts, strict=False):
            stats["by_model"].setdefault(str(m), Counter())[v] += 1
        stats["by_model"] = {k: dict(c) for k, c in stats["by_model"].items()}
    stats["by_domain"] = {k: dict(c) for k, c in stats["by_domain"].items()}
    if reasons is not None:
        stats["reasons"] = dict(Counter(r for r in reasons if r))
    stats.update(_breakdowns(df, verdicts))
    return stats


def _breakdowns(df: pl.DataFrame, verdicts: list) -> dict:
    """Verdicts by checker (the code checker, else the verifier) and by program language; consensus labels."""
    out: dict = {}
    checkers = df.get_column("verifier").to_list()
    if "code_checker" in df.columns:
        checkers = [c or v for c, v in zip(df.get_column("code_checker").to_list(), checkers, strict=True)]
    by_checker: dict = {}
    for c, v in zip(checkers, verdicts, strict=True):
        by_checker.setdefault(str(c), Counter())[v] += 1
    out["by_checker"] = {k: dict(c) for k, c in by_checker.items()}
    if "code_language" in df.columns:
        by_language: dict = {}
        for lang, v in zip(df.get_column("code_language").to_list(), verdicts, strict=True):
            if lang is not None:
                by_language.setdefault(lang, Counter())[v] += 1
        out["by_language"] = {k: dict(c) for k, c in by_language.items()}
    if "answer_source" in df.columns:
        out["answer_source"] = dict(Counter(str(s) for s in df.get_column("answer_source").to_list()))
    return out
