"""What a code row says about how to judge it: language, checker and limits, read the way datasets write them.

CodeContests carries `time_limit` as {"seconds", "nanos"} and `memory_limit_bytes`; TACO writes "1 second" and
"256 megabytes"; hand-made rows write numbers (seconds, megabytes). A value that cannot be read falls back to the
stage's defaults rather than failing the row: the limits are advice from the dataset, the tests are the contract.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from distill_cli.stages.verify.checkers import CHECKERS

_AMOUNT = re.compile(r"^\s*([\d.]+)\s*([a-zA-Z]*)\s*$")
_SECONDS = {"": 1.0, "s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0, "ms": 1e-3,
            "millisecond": 1e-3, "milliseconds": 1e-3}
_MEGABYTES = {"": 1.0, "m": 1.0, "mb": 1.0, "mib": 1.0, "megabyte": 1.0, "megabytes": 1.0, "k": 1 / 1024,
              "kb": 1 / 1024, "kib": 1 / 1024, "kilobytes": 1 / 1024, "g": 1024.0, "gb": 1024.0, "b": 1 / 2**20,
              "bytes": 1 / 2**20}


@dataclass(frozen=True)
class Problem:
    """The row's own settings for judging its code (None where the row says nothing)."""

    language: str | None = None
    checker: str | None = None
    time_limit: float | None = None
    memory_mb: int | None = None


def language_name(value: str | None) -> str | None:
    """'python' or 'cpp' for the names datasets and fences use (PYTHON3, py, C++, cpp17, GNU C++17), else as given."""
    if value is None or not str(value).strip():
        return None
    v = str(value).strip().lower()
    if v.startswith("py"):
        return "python"
    if "c++" in v or v.startswith(("cpp", "cxx", "cc", "g++")):
        return "cpp"
    return v


def seconds(value) -> float | None:
    if isinstance(value, dict):
        total = float(value.get("seconds") or 0) + float(value.get("nanos") or 0) / 1e9
        return total or None
    if isinstance(value, int | float):
        return float(value) if value > 0 else None
    m = _AMOUNT.match(str(value)) if value is not None else None
    unit = _SECONDS.get(m.group(2).lower()) if m else None
    try:
        return float(m.group(1)) * unit if m and unit and float(m.group(1)) > 0 else None
    except ValueError:
        return None


def megabytes(value) -> int | None:
    if isinstance(value, int | float):
        mb = value / 2**20 if value >= 1 << 20 else value  # a large plain number is bytes (memory_limit_bytes)
        return int(mb) if mb >= 1 else None
    m = _AMOUNT.match(str(value)) if value is not None else None
    unit = _MEGABYTES.get(m.group(2).lower()) if m else None
    try:
        return int(float(m.group(1)) * unit) or None if m and unit else None
    except ValueError:
        return None


def problem_of(row: dict) -> Problem:
    """Read language, checker, time and memory limits from a row's columns (any of them may be missing)."""
    time = row.get("time_limit")
    memory = row.get("memory_limit", row.get("memory_limit_bytes"))
    checker = row.get("checker")
    return Problem(language=language_name(row.get("language")), checker=str(checker) if checker else None,
                   time_limit=seconds(time), memory_mb=megabytes(memory))


def checker_spec(problem: Problem, default: str) -> dict:
    """The harness's checker settings: a built-in name, or `custom` with the row's checker program."""
    if not problem.checker or not problem.checker.strip():
        return {"checker": default}
    name = problem.checker.strip().lower().replace("_", "-")
    if name in CHECKERS:
        return {"checker": name}
    source = problem.checker
    fence = re.search(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)```", source, re.S)
    language = language_name(fence.group(1)) if fence else None
    source = fence.group(2) if fence else source
    cpp = language == "cpp" or (language is None and "#include" in source)
    return {"checker": "custom", "checker_program": source, "checker_language": "cpp" if cpp else "python"}
