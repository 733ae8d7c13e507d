"""The frozen parameters of one score run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from distill_cli.stages.generate.config import LogprobDtype

Role = Literal["teacher", "student"]
ROLES: tuple[str, ...] = Role.__args__


@dataclass(frozen=True)
class ScoreConfig:
    """`role` names the output columns (`teacher_logprobs`, `student_perplexity`, ...), so a teacher and a student
    can score the same traces one after the other; `model_name` is what `<role>_model` records."""

    model: str
    model_name: str
    role: Role = "teacher"
    logprobs: int | None = None  # top-K per completion token (None: only each token's own logprob)
    logprobs_dtype: LogprobDtype = "float32"
    # how a trace without gen_params is rendered (a trace from generate is rendered as its gen_params say)
    system_prompt: str | None = None
    prompt_template: str | None = None
    chat_template_kwargs: dict = field(default_factory=dict)

    @property
    def prefix(self) -> str:
        return f"{self.role}_"

    @property
    def k(self) -> int:
        return self.logprobs or 0
