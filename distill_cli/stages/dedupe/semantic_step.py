"""dedupe's semantic options: parse them, and run the semantic steps with the embedding engine and its cache."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from distill_cli.errors import BadInput
from distill_cli.stages.dedupe.config import Keep, On
from distill_cli.stages.dedupe.core import DedupePlan
from distill_cli.stages.dedupe.semantic import SemanticConfig


def default_cache() -> Path:
    from distill_cli.model import distill_home

    return distill_home() / "embeddings"


@dataclass
class SemanticStep:
    cfg: SemanticConfig
    model: str
    cache_dir: Path
    refs: pl.DataFrame | None = None
    stats: dict = field(default_factory=lambda: {"embedded": 0, "reused": 0})

    def params(self) -> dict:
        return {"semantic": {**asdict(self.cfg), "embed_model": self.model}}

    def run(self, plan: DedupePlan, rows: pl.LazyFrame, quiet: bool) -> DedupePlan:
        """The plan of dedupe's own steps, extended by the semantic ones over the rows it keeps (`rows`: the
        input with dedupe's row number)."""
        from distill_cli.engines.embed import EmbeddingCache, VLLMEmbedder, embed_cached
        from distill_cli.stages.dedupe.semantic_run import apply_plan, survivors

        cache = EmbeddingCache(self.cache_dir, self.model)
        engine: list[VLLMEmbedder] = []

        def engine_embed(texts: list[str]) -> np.ndarray:
            if not engine:  # started only when the cache lacks something
                engine.append(VLLMEmbedder(self.model, quiet=quiet))
            return engine[0](texts)

        def embed(texts: pl.Series) -> np.ndarray:
            vectors, counts = embed_cached(texts, engine_embed, cache)
            for key, value in counts.items():
                self.stats[key] += value
            return vectors

        try:
            out = apply_plan(plan, survivors(rows, plan, self.cfg.on), self.cfg, embed, self.refs)
        finally:
            if engine:
                engine[0].close()
        out.stats["semantic_embeddings"] = dict(self.stats)
        return out


def semantic_step(threshold: float | None, decontaminate: float | None, model: str | None, cache: Path | None,
                  on: On, keep: Keep, specs: tuple[str, ...], reference_split: str) -> SemanticStep | None:
    """None when no semantic option is given; a bad combination is a usage error."""
    if threshold is None and decontaminate is None:
        if model:
            raise BadInput("--embed-model is for --semantic/--decontaminate-semantic: pass one of them too")
        return None
    for name, value in (("--semantic", threshold), ("--decontaminate-semantic", decontaminate)):
        if value is not None and not 0 < value <= 1:
            raise BadInput(f"{name} {value}: the cosine threshold must be in (0, 1], e.g. 0.95")
    if not model:
        raise BadInput("--semantic/--decontaminate-semantic need --embed-model MODEL (an embedding model, or "
                       "'tiny' for the bundled one)")
    from distill_cli.model import resolve_model

    refs = None
    if decontaminate is not None:
        from distill_cli.stages.dedupe.references import load_references

        refs = load_references(list(specs) or ["all"], reference_split)
    cfg = SemanticConfig(threshold=threshold, on=on, keep=keep, decontaminate=decontaminate)
    return SemanticStep(cfg, resolve_model(model), (cache or default_cache()).expanduser(), refs)
