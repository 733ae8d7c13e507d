"""dedupe: exact and MinHash near-duplicate removal and benchmark decontamination (config.py, core.py, run.py)."""

from importlib import import_module

_HOMES = {
    "CONTAMINATION_SCHEMA": "core",
    "DUPLICATES_SCHEMA": "core",
    "DedupeResult": "core",
    "dedupe_frame": "core",
    "DedupeConfig": "config",
}
__all__ = list(_HOMES)


def __getattr__(name: str):
    """The package's names, imported on first use: the CLI imports config.py here without loading the core."""
    if name in _HOMES:
        return getattr(import_module(f"{__name__}.{_HOMES[name]}"), name)
    raise AttributeError(name)
