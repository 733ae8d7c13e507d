"""collect's frozen params: which columns hold the prompt, answer and tests, and how the answer is read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

AnswerFormat = Literal["auto", "boxed", "gsm8k", "raw"]
Domain = Literal["auto", "math", "code", "choice", "text"]

@dataclass(frozen=True)
class CollectConfig:
    prompt_field: str | None = None
    answer_field: str | None = None
    answer_format: AnswerFormat = "auto"
    domain: Domain = "auto"
    tests_field: str | None = None
    max_prompt_chars: int = 1_000_000  # a longer "prompt" is a broken row (a whole file pasted in), not a task
    tests_in_prompt: int = 0  # code: append the first N assert tests (MBPP's "Your code should pass these tests:")
