"""Answer comparison for compress, through the verify stage: the same verifier that judged the traces.

Strategies ask many small questions ("is the answer stated in this paragraph the reference answer?"); they are
asked in one batch per strategy, so the verifier's worker pool (which bounds every item by a timeout) starts once
per batch, and identical questions are asked once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    from distill_cli.stages.verify.core import VerifyConfig


CACHE_SIZE = 200_000


def _key(text: str) -> str:
    return "".join(text.split()).strip("$").rstrip(".")


def _numbers_equal(candidate: str, reference: str) -> bool | None:
    """The verifier's own numeric path (plain-number references: GSM8K, AIME), run here: it is a regular
    expression and a float comparison that cannot hang, so it needs no worker. None: not two plain numbers."""
    from distill_cli.stages.verify.extract import as_number, same_number

    ref, cand = as_number(reference), as_number(candidate)
    if ref is None or cand is None:
        return None
    return same_number(cand, ref)


def as_response(candidate: str) -> str:
    """A stated answer as the response the verifier reads: the final answer is boxed."""
    return f"\\boxed{{{candidate}}}"


class VerifierEqual:
    """An Equal over the real verifier: a candidate equals a reference when verify calls it correct.

    Use it as a context manager: its worker pool starts on the first question that needs it and is reused by
    every later batch (of every shard) until the block ends.
    """

    def __init__(self, cfg: VerifyConfig | None = None):
        from distill_cli.stages.verify.core import VerifyConfig

        self.cfg = cfg or VerifyConfig()
        self._pool = None
        self._known: dict[tuple, bool] = {}  # answers already given: chained strategies ask the same questions
        self.asked = 0

    def __enter__(self) -> VerifierEqual:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    def clear_cache(self) -> None:
        self._known.clear()

    def _verdicts(self, todo: list[tuple[str, str, str]]) -> list[str]:
        from distill_cli.stages.verify.core import verify_frame
        from distill_cli.stages.verify.pool import VerifyPool

        if self._pool is None:
            self._pool = VerifyPool(self.cfg).__enter__()
        frame = pl.DataFrame({
            "response": [as_response(c) for c, _, _ in todo],
            "answer": [r for _, r, _ in todo],
            "domain": [d for _, _, d in todo],
        })
        self.asked += len(todo)
        out, _ = verify_frame(frame, self.cfg, pool=self._pool)
        return out["verdict"].to_list()

    def __call__(self, items: list[tuple[str | None, str | None, str]]) -> list[bool]:
        answers = self._known
        if len(answers) > CACHE_SIZE:
            answers.clear()
        todo: list[tuple[str, str, str]] = []
        for item in items:
            cand, ref, _ = item
            if not cand or not ref or item in answers:
                continue
            answers[item] = _key(cand) == _key(ref)  # the same text is the same answer under any verifier
            if not answers[item]:
                same = _numbers_equal(cand, ref) if item[2] == "math" else None
                if same is None:
                    todo.append(item)  # type: ignore[arg-type]  # a checked item: cand is not None here
                else:
                    answers[item] = same
        if todo:
            for item, verdict in zip(todo, self._verdicts(todo), strict=True):
                answers[item] = verdict == "correct"
        return [answers.get(item, False) for item in items]
