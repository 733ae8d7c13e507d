"""dedupe: exact and MinHash near-duplicate removal and benchmark decontamination (config.py, core.py, run.py)."""

from distill_cli.stages.lazy import lazy_names

_HOMES = {
    "CONTAMINATION_SCHEMA": "core",
    "DUPLICATES_SCHEMA": "core",
    "DedupeResult": "core",
    "dedupe_frame": "core",
    "DedupeConfig": "config",
}
__all__ = list(_HOMES)

__getattr__ = lazy_names(__name__, _HOMES)
