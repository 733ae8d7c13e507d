"""compress: prune and shorten reasoning traces without losing correctness (docs/stages/compress.md)."""

from importlib import import_module

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


def __getattr__(name: str):
    """The package's names, imported on first use: the CLI imports config.py here without loading the core."""
    if name in _HOMES:
        return getattr(import_module(f"{__name__}.{_HOMES[name]}"), name)
    raise AttributeError(name)
