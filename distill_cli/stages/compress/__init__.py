"""compress: prune and shorten reasoning traces without losing correctness (docs/stages/compress.md)."""

from distill_cli.stages.compress.config import (
    STRATEGIES,
    CompressConfig,
    RewriteConfig,
    parse_strategies,
    parse_targets,
)
from distill_cli.stages.compress.core import NEEDED, compress_frame
from distill_cli.stages.compress.rewrite import RewriteJob, RewriteOutcome, Rewriter

__all__ = [
    "NEEDED", "STRATEGIES", "CompressConfig", "RewriteConfig", "RewriteJob", "RewriteOutcome", "Rewriter",
    "compress_frame", "parse_strategies", "parse_targets",
]
