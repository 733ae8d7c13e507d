"""grade's frozen params: the difficulty bands by pass rate, the reference model, verdicts left out."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from distill_cli.errors import BadInput

UNGRADED = "ungraded"
DEFAULT_BANDS = "unsolved=0,hard=0.3,medium=0.7,easy=<1,trivial=1"
@dataclass(frozen=True)
class Band:
    """Pass rates above the previous band's bound and at most `upper` (strictly below it when `strict`)."""

    name: str
    upper: float
    strict: bool = False


@dataclass(frozen=True)
class GradeConfig:
    bands: tuple[Band, ...] = field(default_factory=lambda: parse_bands(DEFAULT_BANDS))
    reference_model: str | None = None
    ignore_verdicts: tuple[str, ...] = ("unverifiable",)


def parse_bands(text: str) -> tuple[Band, ...]:
    """`name=UPPER,...` ascending; `name=<UPPER` excludes the bound itself. The last band must reach 1."""
    bands: list[Band] = []
    for item in (p.strip() for p in text.split(",") if p.strip()):
        m = re.fullmatch(r"([A-Za-z_][\w-]*)\s*=\s*(<?)\s*([0-9.]+)", item)
        if not m:
            raise BadInput(f"--bands {item!r}: expected NAME=UPPER or NAME=<UPPER, e.g. {DEFAULT_BANDS}")
        name, strict, upper = m.group(1), bool(m.group(2)), _float(m.group(3), "--bands")
        if not 0 <= upper <= 1:
            raise BadInput(f"--bands {item!r}: bound must be within 0..1")
        if name in (b.name for b in bands) or name == UNGRADED:
            raise BadInput(f"--bands: band name {name!r} is used twice or reserved")
        if bands and (upper, not strict) <= (bands[-1].upper, not bands[-1].strict):
            raise BadInput(f"--bands {item!r}: bounds must increase (after {bands[-1].name}={bands[-1].upper})")
        bands.append(Band(name, upper, strict))
    if not bands or bands[-1].upper != 1 or bands[-1].strict:
        raise BadInput(f"--bands {text!r}: the last band must end at 1 (inclusive) so every pass rate has a band")
    return tuple(bands)


def parse_ignored(text: str) -> tuple[str, ...]:
    """--ignore-verdicts: a comma list of verdicts, each one the contract knows."""
    from distill_cli.schema import VERDICTS

    ignored = tuple(sorted({v.strip() for v in text.split(",") if v.strip()}))
    unknown = [v for v in ignored if v not in VERDICTS]
    if unknown:
        raise BadInput(f"--ignore-verdicts {','.join(unknown)}: not a verdict; valid: {', '.join(VERDICTS)}")
    return ignored


def _float(text: str, option: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise BadInput(f"{option}: {text!r} is not a number") from None
