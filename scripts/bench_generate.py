"""Benchmark: `distill generate` (vLLM backend) against a bare `vllm.LLM.chat` script, side by side in one run.

Both get the same prompts (GSM8K test questions through `distill collect`), the same model (the bundled tiny
teacher unless --model), the same engine settings and the same sampling. The bare script asks for n samples per
prompt with SamplingParams(n=...), as an open-r1-style script would; distill sends one request per (prompt,
sample) so each can be checkpointed and resumed. Start-up (interpreter, imports, engine start, shutdown) and
generation are timed apart: the ratio that
matters is generation throughput (output tokens/s), target >= 0.95.

    make bench-generate        # or: .venv/bin/python scripts/bench_generate.py --prompts 32 -n 2 --max-tokens 128
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from importlib import resources
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def engine_kwargs(args) -> dict:
    from distill_cli.engines.memory import parse_size

    return {"dtype": args.dtype, "enforce_eager": True, "seed": 0, "max_model_len": args.max_model_len,
            "kv_cache_memory_bytes": parse_size(args.kv_cache_memory)}


def bare_worker(args) -> None:
    """The reference: what a user writes with vLLM alone. Prints one JSON line of timings."""
    import polars as pl
    from vllm import LLM, SamplingParams

    prompts = pl.read_parquet(sorted(Path(args.prompts_dir).glob("part-*.parquet")))["prompt"].to_list()
    convs = [[{"role": "user", "content": p}] for p in prompts]
    t0 = time.perf_counter()
    llm = LLM(model=args.model, **engine_kwargs(args))
    t1 = time.perf_counter()
    params = SamplingParams(n=args.n, temperature=0.6, top_p=0.95, max_tokens=args.max_tokens)
    outs = llm.chat(convs, params, use_tqdm=False)
    t2 = time.perf_counter()
    tokens = sum(len(c.token_ids) for o in outs for c in o.outputs)
    print(json.dumps({"engine_s": t1 - t0, "gen_s": t2 - t1, "tokens": tokens, "samples": sum(len(o.outputs)
                                                                                              for o in outs)}))
    llm.llm_engine.engine_core.shutdown()


def run_bare(args, prompts_dir: Path, env: dict) -> dict:
    cmd = [sys.executable, __file__, "--bare-worker", "--prompts-dir", str(prompts_dir), "--model", args.model,
           "-n", str(args.n), "--max-tokens", str(args.max_tokens), "--dtype", args.dtype,
           "--max-model-len", str(args.max_model_len), "--kv-cache-memory", args.kv_cache_memory]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"bare vLLM run failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    return {**result, "wall_s": wall, "start_s": wall - result["gen_s"]}


def run_distill(args, prompts_dir: Path, out: Path, env: dict) -> dict:
    cmd = [sys.executable, "-m", "distill_cli", "generate", str(prompts_dir), "-o", str(out), "--model", args.model,
           "-n", str(args.n), "--max-tokens", str(args.max_tokens), "--temperature", "0.6", "--top-p", "0.95",
           "--dtype", args.dtype, "--enforce-eager", "--max-model-len", str(args.max_model_len), "--seed", "0",
           "--kv-cache-memory", args.kv_cache_memory, "-q", "--overwrite"]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"distill generate failed:\n{proc.stderr[-3000:]}")
    stats = json.loads((out / "_stats.json").read_text())
    gen = stats["generated"]
    return {"gen_s": gen["seconds"], "tokens": gen["completion_tokens"], "samples": gen["samples"], "wall_s": wall,
            "start_s": wall - gen["seconds"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=32)
    ap.add_argument("-n", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--model", default=None, help="default: the bundled tiny model")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--max-model-len", type=int, default=1024)
    ap.add_argument("--kv-cache-memory", default="2GiB", help="the same KV cache for both engines")
    ap.add_argument("--bare-worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--prompts-dir", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.bare_worker:
        bare_worker(args)
        return
    if args.model is None:
        from distill_cli.model import build_tiny

        args.model = str(build_tiny())
    env = {**os.environ, "VLLM_LOGGING_LEVEL": "ERROR"}
    gsm8k = Path(str(resources.files("distill_cli") / "benchmarks" / "gsm8k_test.jsonl"))
    with tempfile.TemporaryDirectory() as tmp:
        prompts_dir = Path(tmp) / "prompts"
        subprocess.run([sys.executable, "-m", "distill_cli", "collect", str(gsm8k), "-o", str(prompts_dir),
                        "--limit", str(args.prompts), "-q"], check=True, env=env)
        print(f"bench-generate: {args.prompts} GSM8K prompts x {args.n} samples, max_tokens {args.max_tokens}, "
              f"{args.dtype}, enforce_eager, KV cache {args.kv_cache_memory}, model {Path(args.model).name}")
        bare = run_bare(args, prompts_dir, env)
        dist = run_distill(args, prompts_dir, Path(tmp) / "traces", env)
    for name, r in (("vllm.LLM.chat", bare), ("distill generate", dist)):
        print(f"  {name:17s} start+stop {r['start_s']:6.1f} s | generation {r['gen_s']:6.1f} s, "
              f"{r['samples']} samples, {r['tokens']} output tokens, {r['tokens'] / r['gen_s']:7.1f} tok/s | "
              f"wall {r['wall_s']:6.1f} s")
    ratio = (dist["tokens"] / dist["gen_s"]) / (bare["tokens"] / bare["gen_s"])
    e2e = (dist["tokens"] / dist["wall_s"]) / (bare["tokens"] / bare["wall_s"])
    print(f"  generation throughput ratio distill/bare: {ratio:.3f} (target >= 0.95); end to end: {e2e:.3f}")


if __name__ == "__main__":
    main()
