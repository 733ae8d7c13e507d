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


def score_config(model: str, model_name: str | None, role: Role, logprobs: int | None, logprobs_dtype: LogprobDtype,
                 system_prompt: str | None, prompt_template: str | None,
                 chat_template_kwargs: str | None) -> ScoreConfig:
    """The run's params, checked before any work: the prompt template, a local model path, the chat template's
    JSON."""
    from distill_cli.engines.backends import check_model_path, default_model_name
    from distill_cli.engines.render import check_template, parse_template_kwargs

    check_template(prompt_template)
    check_model_path(model)
    kwargs = parse_template_kwargs(chat_template_kwargs)
    return ScoreConfig(model=model, model_name=model_name or default_model_name(model), role=role,
                       logprobs=logprobs, logprobs_dtype=logprobs_dtype, system_prompt=system_prompt,
                       prompt_template=prompt_template, chat_template_kwargs=kwargs)
