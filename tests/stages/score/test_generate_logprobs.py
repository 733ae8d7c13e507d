"""generate --logprobs without an engine: checkpoint rows keep the arrays, traces get typed columns, and runs
made before the option keep their request keys and params."""

from __future__ import annotations

import hashlib
import json

import polars as pl

from distill_cli.engines.logprobs import from_flat
from distill_cli.engines.types import Result, Sampling
from distill_cli.stages.generate.core import GenerateConfig, build_requests, result_row, results_frame, traces_frame


def config(k: int | None, dtype: str = "float32") -> GenerateConfig:
    return GenerateConfig(model="m", model_name="m", n=1, sampling=Sampling(max_tokens=8, logprobs=k),
                          logprobs_dtype=dtype)  # type: ignore[arg-type]


def prompts() -> pl.DataFrame:
    return pl.DataFrame({"id": ["a", "b"], "prompt": ["1+1?", "2+2?"]})


def test_results_keep_logprob_arrays_and_traces_store_the_chosen_dtype():
    cfg = config(2, "float16")
    ra, rb = build_requests(prompts(), cfg)
    lp = from_flat([5, 9], [5, 5, 7, 9, 8, 1], [-0.1, -0.1, -2.0, -0.5, -0.2, -0.3], 2, prompt_ids=[1, 2])
    rows = [result_row(Result(ra, "x y", "stop", 2, 2, logprobs=lp)),
            result_row(Result(rb, "", "error", 0, 0, error="HTTP 400"))]
    frame = results_frame(rows)
    assert frame["token_ids"].to_list() == [[5, 9], None] and frame["prompt_token_ids"].to_list()[0] == [1, 2]
    traces = traces_frame(prompts(), frame, cfg)
    assert traces.schema["topk_logprobs"] == pl.List(pl.Array(pl.Float16, 2))
    assert traces.schema["topk_ids"] == pl.List(pl.Array(pl.Int32, 2))
    assert traces["topk_ids"].to_list()[0] == [[5, 7], [8, 1]] and traces["topk_ids"].to_list()[1] is None
    assert json.loads(traces["gen_params"][0])["logprobs"] == 2


def test_a_shard_of_failed_requests_still_has_every_logprob_column():
    cfg = config(3)
    (ra, _) = build_requests(prompts(), cfg)
    traces = traces_frame(prompts(), results_frame([result_row(Result(ra, "", "error", 0, 0, error="x"))]), cfg)
    assert {"token_ids", "token_logprobs", "topk_ids", "topk_logprobs", "prompt_token_ids"} <= set(traces.columns)
    assert traces.schema["topk_logprobs"] == pl.List(pl.Array(pl.Float32, 3))


def test_without_logprobs_keys_and_gen_params_are_what_they_were():
    plain = build_requests(prompts(), config(None))
    old = {"id": "a", "sample": 0, "messages": [{"role": "user", "content": "1+1?"}], "model": "m",
           "sampling": {"temperature": 0.6, "top_p": 0.95, "top_k": -1, "max_tokens": 8, "seed": None},
           "chat_template_kwargs": {}}  # the payload keys were hashed from before --logprobs existed
    blob = json.dumps(old, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()
    assert plain[0].key == hashlib.blake2b(blob, digest_size=16).hexdigest()
    assert "logprobs" not in json.loads(config(None).gen_params())
    assert {r.key for r in plain}.isdisjoint(r.key for r in build_requests(prompts(), config(5)))
