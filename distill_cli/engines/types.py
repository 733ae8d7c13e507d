"""The interface between the generate stage and its backends (offline vLLM, OpenAI-compatible HTTP).

A backend receives requests, one per (prompt id, sample index), and reports each result as soon as it is
finished, so the stage can checkpoint finished samples while the rest are still running.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from distill_cli.engines.logprobs import TokenLogprobs


@dataclass(frozen=True)
class Sampling:
    temperature: float = 0.6
    top_p: float = 0.95
    top_k: int = -1
    max_tokens: int = 4096
    seed: int | None = None  # engine seed; per-request seeds crash the CPU engine
    logprobs: int | None = None  # keep each token's logprob and the top-K (None: text only)

    def fields(self) -> dict:
        """The sampling params as a dict for keys and params; `logprobs` only when set, so requests and runs made
        before the option existed keep their keys and params hash."""
        out = asdict(self)
        if out["logprobs"] is None:
            del out["logprobs"]
        return out


@dataclass(frozen=True)
class Request:
    key: str  # hash of (prompt id, sample, rendered request, sampling params): the resume key
    id: str
    sample: int
    messages: tuple[dict, ...]  # chat messages: ({"role": "system"|"user", "content": str}, ...)
    sampling: Sampling
    chat_template_kwargs: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Result:
    request: Request
    text: str  # the raw completion ("" only together with an error or a genuinely empty completion)
    finish_reason: str  # stop | length | error | ...
    prompt_tokens: int
    completion_tokens: int
    reasoning_content: str | None = None  # a server's separate reasoning field, when it has one
    error: str | None = None  # why this request failed, recorded per row instead of raising
    seed: int | None = None
    think_open: bool = False  # the rendered prompt ended with <think>: the completion starts inside the thinking
    cached_tokens: int | None = None  # prompt tokens a cache served (engines/usage.py: None = not reported)
    reasoning_tokens: int | None = None  # completion tokens inside the thinking
    logprobs: TokenLogprobs | None = None  # with Sampling.logprobs: the completion's token ids, logprobs, top-K


class Backend(Protocol):
    model: str

    def generate(self, requests: Iterable[Request], on_result: Callable[[Result], None]) -> None:
        """Run every request and call on_result once per request, in completion order."""
        ...

    def close(self) -> None: ...
