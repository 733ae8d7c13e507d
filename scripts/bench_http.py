"""The openai backend's client-side overhead per request, against a bare httpx async loop.

Both clients send the same chat requests with the same concurrency to one local fault server (faults off, zero
latency), alternating rounds in this run; the best round of each is kept. The ratio is backend / bare: what the
retry bookkeeping, the loop thread and the result hand-off cost on top of the HTTP calls themselves.
Target: within 1.5x (in production a request takes seconds of generation, so this is noise there).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(Path(__file__).parent)]
from benchutil import table  # noqa: E402

from distill_cli.engines.openai_backend import KEY_HEADER, OpenAIBackend  # noqa: E402
from distill_cli.engines.types import Request, Sampling  # noqa: E402
from tests.support import fault_server  # noqa: E402

MODEL = "fault-model"


def make_requests(n: int) -> list[Request]:
    sampling = Sampling(max_tokens=256)
    return [Request(f"k{i}", f"p{i // 4}", i % 4, ({"role": "user", "content": f"What is {i} + {i}?"},), sampling)
            for i in range(n)]


async def bare_async(base_url: str, requests: list[Request], concurrency: int) -> int:
    """The floor: one shared client, a semaphore, post, parse the JSON, keep the text."""
    sem = asyncio.Semaphore(concurrency)
    texts = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def one(client: httpx.AsyncClient, req: Request) -> None:
        body = {"model": MODEL, "messages": list(req.messages), "temperature": 0.6, "top_p": 0.95,
                "max_tokens": req.sampling.max_tokens, "n": 1}
        async with sem:
            resp = await client.post(f"{base_url}/chat/completions", json=body, headers={KEY_HEADER: req.key})
            texts.append(resp.json()["choices"][0]["message"]["content"])

    async with httpx.AsyncClient(limits=limits, timeout=60) as client:
        await asyncio.gather(*(one(client, r) for r in requests))
    return len(texts)


def run_bare(base_url: str, requests: list[Request], concurrency: int) -> float:
    start = time.perf_counter()
    done = asyncio.run(bare_async(base_url, requests, concurrency))
    assert done == len(requests)
    return time.perf_counter() - start


def run_backend(base_url: str, requests: list[Request], concurrency: int) -> float:
    backend = OpenAIBackend(MODEL, base_url, concurrency=concurrency, timeout=60)
    results = []
    start = time.perf_counter()
    backend.generate(requests, results.append)
    wall = time.perf_counter() - start
    assert len(results) == len(requests) and all(r.finish_reason == "stop" for r in results)
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    requests = make_requests(args.requests)
    best = {"bare httpx": float("inf"), "OpenAIBackend": float("inf")}
    with fault_server() as server:
        for _ in range(args.rounds):
            for name, fn in (("bare httpx", run_bare), ("OpenAIBackend", run_backend)):
                server.reset()
                best[name] = min(best[name], fn(server.base_url, requests, args.concurrency))
                assert server.stats()["total_answered"] == args.requests
    n = args.requests
    rows = [(name, f"{wall:.2f}", f"{wall / n * 1e3:.3f}", f"{n / wall:.0f}") for name, wall in best.items()]
    print(f"{n} requests, concurrency {args.concurrency}, best of {args.rounds} rounds, local fault server")
    print(table(rows, ("client", "wall s", "ms/request", "requests/s")))
    print(f"ratio OpenAIBackend / bare httpx: {best['OpenAIBackend'] / best['bare httpx']:.2f}x (target <= 1.5x)")


if __name__ == "__main__":
    main()
