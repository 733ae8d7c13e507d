"""Benchmark: `distill score` against a bare `vllm.LLM.generate(prompt_logprobs=K, max_tokens=1)` on the same traces.

One engine (the bundled tiny model unless --model, float32, eager, one KV-cache size) serves both, so the engine
arguments are the same by construction. Traces: GSM8K prompts with completions sampled by that engine. The bare
reference is what a user writes with vLLM alone: one `generate` call over prompt+completion token ids with
`prompt_logprobs=K` and `max_tokens=1`. distill's number is the whole score stage over a Parquet input (read,
check every trace's ids against the tokenizer, render, score, checkpoint, write): tokens (prompt + completion) per
second, target >= 0.9 of the bare one. Then the Parquet bytes per completion token of the logprob columns at K.

    make bench-score        # or: .venv/bin/python scripts/bench_score.py --traces 64 --max-tokens 128 -k 20
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from importlib import resources
from pathlib import Path


def make_traces(backend, n: int, max_tokens: int, path: Path) -> tuple[list[list[int]], int]:
    """GSM8K prompts answered by the engine: a traces file with token ids; returns the full sequences."""
    import polars as pl
    from vllm import SamplingParams

    gsm8k = Path(str(resources.files("distill_cli") / "benchmarks" / "gsm8k_test.jsonl"))
    prompts = [json.loads(line)["question"] for line in gsm8k.read_text().splitlines()[:n]]
    outs = backend.llm.chat([[{"role": "user", "content": p}] for p in prompts],
                            SamplingParams(temperature=0.6, top_p=0.95, max_tokens=max_tokens), use_tqdm=False)
    rows = [{"id": f"q{i}", "prompt": p, "completion": o.outputs[0].text, "finish_reason": o.outputs[0].finish_reason,
             "token_ids": list(o.outputs[0].token_ids)} for i, (p, o) in enumerate(zip(prompts, outs, strict=True))]
    pl.DataFrame(rows, schema_overrides={"token_ids": pl.List(pl.Int32)}).write_parquet(path)
    seqs = [list(o.prompt_token_ids) + list(o.outputs[0].token_ids) for o in outs]
    return seqs, sum(len(o.outputs[0].token_ids) for o in outs)


def bare(backend, seqs: list[list[int]], k: int) -> float:
    from vllm import SamplingParams

    t0 = time.perf_counter()
    outs = backend.llm.generate([{"prompt_token_ids": s} for s in seqs],
                                SamplingParams(prompt_logprobs=k, max_tokens=1), use_tqdm=False)
    took = time.perf_counter() - t0
    assert all(len(o.prompt_logprobs) == len(s) for o, s in zip(outs, seqs, strict=True))
    return took


def distill_score(backend, src: Path, out: Path, k: int, dtype: str) -> tuple[float, dict]:
    from distill_cli.engines.scorer import VLLMScorer
    from distill_cli.stagedir.runner import RunOptions
    from distill_cli.stages.score.config import ScoreConfig
    from distill_cli.stages.score.run import run

    cfg = ScoreConfig(model="tiny", model_name="tiny", logprobs=k, logprobs_dtype=dtype)  # type: ignore[arg-type]
    t0 = time.perf_counter()
    run(cfg, str(src), RunOptions(out=out, quiet=True, overwrite=True), {}, make_scorer=lambda: VLLMScorer(k, backend))
    took = time.perf_counter() - t0
    return took, json.loads((out / "_stats.json").read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--traces", type=int, default=64)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("-k", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=2, help="alternating timed rounds; the best of each is kept")
    ap.add_argument("--model", default=None, help="default: the bundled tiny model")
    ap.add_argument("--kv-cache-memory", default="1GiB")
    args = ap.parse_args()
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR")
    from distill_cli.engines.memory import parse_size
    from distill_cli.engines.vllm_backend import VLLMBackend
    from distill_cli.model import build_tiny

    model = args.model or str(build_tiny())
    backend = VLLMBackend(model, seed=0, dtype="float32", enforce_eager=True, max_model_len=1024, quiet=True,
                          kv_cache_memory=parse_size(args.kv_cache_memory))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp) / "traces.parquet"
            seqs, completion = make_traces(backend, args.traces, args.max_tokens, src)
            total = sum(map(len, seqs))
            print(f"bench-score: {args.traces} GSM8K traces, {total} tokens ({completion} completion), K={args.k}, "
                  f"float32, enforce_eager, KV cache {args.kv_cache_memory}, model {Path(model).name}")
            bare_s, score_s, stats = [], [], {}
            for _ in range(args.rounds):
                bare_s.append(bare(backend, seqs, args.k))
                took, stats = distill_score(backend, src, Path(tmp) / "scored", args.k, "float32")
                score_s.append(took)
            half, stats16 = distill_score(backend, src, Path(tmp) / "scored16", args.k, "float16")
    finally:
        backend.close()
    b, s = min(bare_s), min(score_s)
    print(f"  vllm.LLM.generate(prompt_logprobs={args.k}, max_tokens=1) {b:6.2f} s  {total / b:8.1f} tok/s")
    print(f"  distill score (whole stage, Parquet in and out)      {s:6.2f} s  {total / s:8.1f} tok/s")
    print(f"  throughput ratio distill/bare: {b / s:.3f} (target >= 0.9)")
    for name, st in (("float32", stats), ("float16", stats16)):
        lp = st["logprobs"]
        print(f"  Parquet at K={args.k}, {name} top-K logprobs: {lp['bytes_per_token']} bytes per completion token "
              f"(ids, logprobs, top-K; zstd) + {lp['prompt_ids_bytes']} bytes of prompt ids in all")


if __name__ == "__main__":
    main()
