"""Decontamination references: the bundled benchmarks by name, or any file or hf: dataset with a problem column.

This is the only part of dedupe that reads files; the core receives a frame (benchmark, index, text).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import polars as pl

from distill_cli.errors import BadInput
from distill_cli.stages.dedupe.config import BUNDLED, expand_specs  # noqa: F401  (re-exported)

TEXT_FIELDS = ("problem", "question", "prompt", "instruction", "text")


def bundled_dir() -> Path:
    return Path(str(resources.files("distill_cli") / "benchmarks"))


def load_references(specs: list[str], split: str = "test") -> pl.DataFrame:
    """All reference problems as (benchmark, index, text)."""
    frames = [_load_one(spec, split) for spec in expand_specs(specs)]
    return pl.concat(frames, how="vertical") if frames else pl.DataFrame(
        schema={"benchmark": pl.String, "index": pl.Int64, "text": pl.String})


def _load_one(spec: str, split: str) -> pl.DataFrame:
    if spec in BUNDLED:
        return _bundled(spec)
    if not spec.startswith("hf:") and not Path(spec).exists():
        raise BadInput(f"--decontaminate {spec!r}: not a bundled benchmark ({', '.join(BUNDLED)}, all) "
                       "nor an existing file or hf:NAME")
    from distill_cli.stages.collect.sources import make_source, read_batches

    src = make_source(spec, split)
    batches = [b.drop("__row") for b in read_batches(src)]
    df = pl.concat(batches, how="diagonal_relaxed")
    field = next((c for c in TEXT_FIELDS if c in df.columns), None)
    if field is None:
        raise BadInput(f"{spec}: no problem column for --decontaminate (looked for {', '.join(TEXT_FIELDS)}; "
                       f"found {', '.join(df.columns)})")
    return _frame(src.name, df[field])


def _bundled(name: str) -> pl.DataFrame:
    import json

    texts: list[str] = []
    for file, column in BUNDLED[name]:
        path = bundled_dir() / file
        if path.suffix == ".json":
            texts.extend(str(r[column]) for r in json.loads(path.read_text()))
        else:
            texts.extend(pl.read_ndjson(path, infer_schema_length=None)[column].cast(pl.String).to_list())
    return _frame(name, pl.Series(texts, dtype=pl.String))


def _frame(name: str, texts: pl.Series) -> pl.DataFrame:
    return pl.DataFrame({"benchmark": name, "index": range(len(texts)), "text": texts.cast(pl.String)},
                        schema={"benchmark": pl.String, "index": pl.Int64, "text": pl.String})
