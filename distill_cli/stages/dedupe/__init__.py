"""dedupe: exact and MinHash near-duplicate removal and benchmark decontamination (pure core; see core.py)."""

from distill_cli.stages.dedupe.core import (
    CONTAMINATION_SCHEMA,
    DUPLICATES_SCHEMA,
    DedupeConfig,
    DedupeResult,
    dedupe_frame,
)

__all__ = ["CONTAMINATION_SCHEMA", "DUPLICATES_SCHEMA", "DedupeConfig", "DedupeResult", "dedupe_frame"]
