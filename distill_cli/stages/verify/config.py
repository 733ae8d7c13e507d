"""The verify stage's knobs and its per-row result, shared by the pool, the workers and the command."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Domain = Literal["auto", "math", "code", "choice", "text"]
Sandbox = Literal["auto", "namespaces", "rlimits"]
Checker = Literal["tokens", "exact", "float", "lines-unordered"]
VerdictName = Literal["correct", "incorrect", "no_answer", "unverifiable", "timeout", "error"]


@dataclass(frozen=True)
class VerifyConfig:
    """`timeout` bounds one math/choice/text item (parsing and comparison, in a killable worker);
    `code_timeout` bounds one program run over all of a row's tests (wall clock, whole process group), unless a
    per-test `time_limit` (the row's column, else this default) applies: then each test has its own limit."""

    workers: int = 1
    timeout: float = 5.0
    domain: Domain = "auto"
    code_timeout: float = 10.0
    memory_mb: int = 1024
    batch_size: int = 16
    max_output_kb: int = 8192
    sandbox: Sandbox = "auto"  # auto: namespaces when root and the kernel allows, else rlimits (docs/stages/verify.md)
    checker: Checker = "tokens"  # stdin/stdout comparison when the row's `checker` column does not name one
    time_limit: float | None = None  # seconds per test when the row has no `time_limit`; None: code_timeout per row
    stop_on_first_failure: bool = False
    consensus: float | None = None  # share of a prompt's samples that must agree to label a prompt without answer
    consensus_min_samples: int = 4
    sandbox_url: str | None = None  # a SandboxFusion-compatible service runs the code instead (remote.py)
    sandbox_concurrency: int = 4  # requests in flight per worker

    def item_deadline(self, domain: str) -> float:
        """How long the pool lets a worker spend on one item before killing it.

        Code items get their sandbox's own wall clock plus room to start it and clean up, so the sandbox
        (which kills its whole process group) always fires before the pool has to kill the worker.
        """
        return self.code_timeout + 10.0 if domain == "code" else self.timeout


@dataclass(frozen=True)
class Verdict:
    verdict: VerdictName
    score: float
    extracted: str | None
    verifier: str
    reason: str | None = None  # why a row is not simply correct/incorrect; counted in the stage stats
    tests: tuple[str, ...] | None = None  # code: pass/fail/timeout/crash/skipped per test
    language: str | None = None  # code: python or cpp
    checker: str | None = None  # code: the output checker (stdin/stdout tests), or the test kind
    detail: str | None = None  # code: the compiler's message when the program did not compile

    def as_tuple(self) -> tuple:
        return (self.verdict, self.score, self.extracted, self.verifier, self.reason, self.tests, self.language,
                self.checker, self.detail)


def timeout_verdict(domain: str) -> Verdict:
    return Verdict("timeout", 0.0, None, _VERIFIERS.get(domain, domain), "item_timeout")


def error_verdict(domain: str, reason: str) -> Verdict:
    return Verdict("error", 0.0, None, _VERIFIERS.get(domain, domain), reason)


_VERIFIERS = {"math": "math-verify", "code": "code-sandbox", "choice": "choice", "text": "exact"}


# the --judge-* options and what reads each: the judge itself, its server (--judge-url), its offline engine
JUDGE_READERS = {name: ("--judge",) for name in ("judge_url", "judge_when", "judge_prompt", "judge_trace",
                                                 "judge_max_tokens", "judge_checkpoint_every")}
SERVER_READERS = {"judge_concurrency": ("--judge-url",)}
OFFLINE = "--judge without --judge-url"
ENGINE_READERS = {name: (OFFLINE,) for name in ("judge_dtype", "judge_max_model_len", "judge_kv_cache_memory",
                                                "judge_engine_arg")}
