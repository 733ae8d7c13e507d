"""Helpers for the verify tests: bundled benchmark rows (never /work/shared) and MBPP programs."""

from __future__ import annotations

import json
from importlib.resources import files

BENCH = files("distill_cli") / "benchmarks"


def jsonl(name: str) -> list[dict]:
    return [json.loads(line) for line in (BENCH / name).read_text().splitlines() if line.strip()]


def mbpp() -> list[dict]:
    return json.loads((BENCH / "sanitized-mbpp.json").read_text())


def mbpp_program(row: dict) -> str:
    """MBPP's reference solution with the imports its tests expect (the MBPP harness puts them first)."""
    return "\n".join(row["test_imports"] + [row["code"]])


