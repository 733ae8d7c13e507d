"""The offline vLLM engine as a scorer: the log-probabilities a model gives to tokens it is handed.

One request per trace: the rendered prompt followed by the completion's tokens, with `prompt_logprobs=K` and
`max_tokens=1` (the one sampled token is discarded). vLLM returns, for every prompt position, the logprob of the
token that is there and the model's top-K (flat lists, no per-token objects); the completion's positions are cut
out with numpy. Prompts are rendered by vLLM's own chat renderer, the code path `LLM.chat` and generate use, so a
trace's prompt tokens are the ones its teacher saw.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from distill_cli.engines.logprobs import TokenLogprobs, check_k, from_flat, vllm_flat
from distill_cli.engines.vllm_backend import VLLMBackend, drive, one_line


@dataclass(frozen=True)
class ScoreRequest:
    key: str
    prompt_ids: np.ndarray  # int32
    token_ids: np.ndarray  # int32: the completion, the tokens scored


@dataclass(frozen=True)
class Scored:
    request: ScoreRequest
    logprobs: TokenLogprobs | None
    error: str | None = None


class VLLMScorer:
    """Scores token sequences with an offline `vllm.LLM` built as generate builds its engine (VLLMBackend)."""

    def __init__(self, k: int, engine: VLLMBackend | None = None, **options):
        """A new engine from `options` (VLLMBackend's), or `engine`, one already running (generate's)."""
        self.k = k
        self.engine, self._owned = (engine, False) if engine is not None else (VLLMBackend(**options), True)
        self.llm, self.model = self.engine.llm, self.engine.model
        self.kv_note = self.engine.kv_note
        check_k(k, self.engine.vocab)
        import vllm

        self.params = vllm.SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=k, flat_logprobs=True,
                                          detokenize=False)
        self.requests_sent = 0

    def render(self, messages: list[dict], chat_template_kwargs: dict | None) -> np.ndarray:
        """The prompt's token ids, rendered by vLLM's chat path (chat template, generation prompt, no extra BOS)."""
        (engine_input,) = self.llm._preprocess_chat([messages], chat_template_kwargs=chat_template_kwargs or None)
        return np.asarray(engine_input["prompt_token_ids"], dtype=np.int32)

    def score(self, requests: Iterable[ScoreRequest], on_result: Callable[[Scored], None]) -> None:
        def submit(req: ScoreRequest) -> str | None:
            self.requests_sent += 1
            ids = np.concatenate([req.prompt_ids, req.token_ids]).tolist()
            try:
                (rid,) = self.llm.enqueue([{"prompt_token_ids": ids}], self.params, use_tqdm=False)
            except Exception as exc:  # e.g. longer than the context: that trace's failure, recorded
                on_result(Scored(req, None, one_line(exc)))
                return None
            return rid

        drive(self.llm, requests, submit, lambda req, out: on_result(self._scored(req, out)))

    def _scored(self, req: ScoreRequest, out) -> Scored:
        plp = out.prompt_logprobs
        if plp is None:
            return Scored(req, None, "the engine returned no prompt logprobs")
        start = len(req.prompt_ids)
        flat_ids, flat_lps = vllm_flat(plp, start, start + len(req.token_ids))
        return Scored(req, from_flat(req.token_ids, flat_ids, flat_lps, self.k, req.prompt_ids))

    def close(self) -> None:
        if self._owned:  # an engine handed in stays with its owner
            self.engine.close()
