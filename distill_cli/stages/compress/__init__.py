"""compress: prune and shorten reasoning traces without losing correctness (docs/stages/compress.md)."""

from distill_cli.stages.lazy import lazy_names

_HOMES = {
    "STRATEGIES": "config",
    "CompressConfig": "config",
    "RewriteConfig": "config",
    "parse_strategies": "config",
    "parse_targets": "config",
    "NEEDED": "core",
    "compress_frame": "core",
    "RewriteJob": "rewrite",
    "RewriteOutcome": "rewrite",
    "Rewriter": "rewrite",
}
__all__ = list(_HOMES)

__getattr__ = lazy_names(__name__, _HOMES)
