"""dedupe's frozen params: exact/near duplicate search, which copy survives, decontamination n-grams."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from distill_cli.errors import BadInput

On = Literal["prompt", "response", "both"]
Keep = Literal["first", "longest", "shortest", "best-score"]



# name -> (file, problem column) in distill_cli/benchmarks/, in order; an item's index runs across the files
BUNDLED: dict[str, tuple[tuple[str, str], ...]] = {
    "math500": (("math500_test.jsonl", "problem"),),
    "gsm8k": (("gsm8k_test.jsonl", "question"),),
    "aime2024": (("aime2024_test.jsonl", "problem"),),
    "aime2025": (("aime2025_I.jsonl", "problem"), ("aime2025_II.jsonl", "problem")),
    "amc2023": (("amc2023_test.jsonl", "problem"),),
    "mbpp": (("sanitized-mbpp.json", "prompt"),),
}
def expand_specs(specs: list[str]) -> list[str]:
    """`all` -> every bundled benchmark; commas separate several names; duplicates dropped, order kept."""
    names: list[str] = []
    for spec in specs:
        for part in (p.strip() for p in (spec.split(",") if not Path(spec).exists() else [spec])):
            if not part:
                continue
            names.extend(BUNDLED if part == "all" else [part])
    return list(dict.fromkeys(names))


@dataclass(frozen=True)
class DedupeConfig:
    exact: bool = True
    near: float | None = None  # Jaccard threshold of near duplicates; None: no near dedupe
    on: On = "prompt"
    keep: Keep = "first"
    shingle: int = 3  # words per MinHash shingle (measured: docs/stages/dedupe.md)
    num_perm: int = 128
    bands: int | None = None  # None: chosen from the threshold (lsh.choose_bands)
    rows: int | None = None
    seed: int = 1
    decontaminate: tuple[str, ...] = ()
    ngram: int = 8
    common_ngram_items: int = 3  # an n-gram in this many benchmark problems is boilerplate; 0: use all
    min_ngrams: int = 3  # shared n-grams (with one benchmark problem) that make a copy; 1: open-r1's rule

    def lsh_shape(self) -> tuple[int, int]:
        if self.bands and self.rows:
            return self.bands, self.rows
        if self.near is None:
            return 0, 0
        from distill_cli.stages.dedupe import lsh

        bands, rows = lsh.choose_bands(self.near, self.num_perm)
        if self.rows:
            return self.num_perm // self.rows, self.rows
        if self.bands:
            return self.bands, self.num_perm // self.bands
        return bands, rows


# what reads each mode-specific option: --exact/--near (the duplicate search) or --decontaminate
READERS: dict[str, tuple[str, ...]] = {
    "on": ("--exact", "--near"), "keep": ("--exact", "--near"), "shingle": ("--near",), "num_perm": ("--near",),
    "bands": ("--near",), "rows": ("--near",), "ngram": ("--decontaminate",),
    "common_ngram_items": ("--decontaminate",), "min_ngrams": ("--decontaminate",),
    "reference_split": ("--decontaminate",),
}


def modes(cfg: DedupeConfig) -> tuple[str, ...]:
    """The modes a run uses, as the options that chose them (what READERS names)."""
    return ("--exact",) * cfg.exact + ("--near",) * (cfg.near is not None) + ("--decontaminate",) * bool(
        cfg.decontaminate)


def dedupe_config(exact: bool, near: float | None, on: On, keep: Keep, decontaminate: list[str], ngram: int,
                  common_ngram_items: int, shingle: int, num_perm: int, bands: int | None,
                  rows: int | None, min_ngrams: int = 3) -> DedupeConfig:
    if near is not None and near <= 0:
        raise BadInput(f"--near {near}: the Jaccard threshold must be in (0, 1], e.g. 0.8")
    specs = tuple(expand_specs(decontaminate))
    if decontaminate and not specs:
        raise BadInput("--decontaminate: give a benchmark name, 'all', a file or hf:NAME")
    cfg = DedupeConfig(exact=exact or (near is None and not specs), near=near, on=on, keep=keep,
                       shingle=shingle, num_perm=num_perm, bands=bands, rows=rows, decontaminate=specs, ngram=ngram,
                       common_ngram_items=common_ngram_items, min_ngrams=min_ngrams)
    if (bands or rows) and near is None:
        raise BadInput("--bands/--rows tune near-duplicate search: pass --near THRESHOLD too")
    resolved = cfg.lsh_shape()
    if resolved[0] * resolved[1] > num_perm:
        raise BadInput(f"--bands {resolved[0]} x --rows {resolved[1]} = {resolved[0] * resolved[1]} exceeds "
                       f"--num-perm {num_perm}")
    return DedupeConfig(**{**asdict(cfg), "bands": resolved[0] or None, "rows": resolved[1] or None})
