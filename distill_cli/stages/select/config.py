"""select's frozen params and the parsing of its option values (windows, name lists, a difficulty mix)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from distill_cli.errors import BadInput

if TYPE_CHECKING:
    import polars as pl

By = Literal["difficulty", "pass-rate", "cv", "length", "random", "perplexity", "divergence"]
SCORED = ("perplexity", "divergence")  # the --by values read from `distill score` columns
Prefer = Literal["shortest", "longest", "random", "first"]
BY_CHOICES: tuple[str, ...] = By.__args__
PREFER_CHOICES: tuple[str, ...] = Prefer.__args__
@dataclass(frozen=True)
class Window:
    """A closed, open or half-open interval; None on a side means unbounded."""

    lo: float | None
    hi: float | None
    lo_open: bool = False
    hi_open: bool = False

    def expr(self, col: pl.Expr) -> pl.Expr:
        import polars as pl  # here, not at the top: the CLI imports this module to parse options

        cond = pl.lit(True)
        if self.lo is not None:
            cond = cond & ((col > self.lo) if self.lo_open else (col >= self.lo))
        if self.hi is not None:
            cond = cond & ((col < self.hi) if self.hi_open else (col <= self.hi))
        return cond

    def __str__(self) -> str:
        lo = "" if self.lo is None else f"{self.lo:g}"
        hi = "" if self.hi is None else f"{self.hi:g}"
        return f"{'(' if self.lo_open else '['}{lo}:{hi}{')' if self.hi_open else ']'}"


# --prefer picks the traces --per-prompt and --pairs keep (--by also names the columns a run needs, so it stays)
READERS = {"prefer": ("--per-prompt", "--pairs")}


def select_config(by: By, band: str | None, quantile: str | None, keep: str | None, pass_rate: str | None,
                  max_cv: float | None, model: str | None, domain: str | None, correct_only: bool,
                  length_tokens: str | None, per_prompt: int | None, prefer: Prefer, distribution: str | None,
                  total: int | None, seed: int, pairs: bool) -> SelectConfig:
    """The run's params from the option texts (windows, name lists, the mix), checked together."""
    def window(text: str | None, option: str) -> Window | None:
        return None if text is None else parse_window(text, option)

    cfg = SelectConfig(by=by, keep=parse_names(keep), pass_rate=window(pass_rate, "--pass-rate"), max_cv=max_cv,
                       models=parse_names(model), domains=parse_names(domain), correct_only=correct_only,
                       length_tokens=window(length_tokens, "--length-tokens"), per_prompt=per_prompt, prefer=prefer,
                       distribution=parse_distribution(distribution) if distribution is not None else None,
                       total=total, seed=seed, pairs=pairs, band=window(band, "--band"),
                       quantile=window(quantile, "--quantile"))
    cfg.check()
    return cfg


def parse_window(text: str, option: str) -> Window:
    """`LO:HI` inclusive; brackets choose each edge: `(0:1)` exclusive, `[0.1:0.9)`; an empty side is unbounded."""
    m = re.fullmatch(r"\s*([\[(]?)\s*([^:\[\]()]*?)\s*:\s*([^:\[\]()]*?)\s*([\])]?)\s*", text)
    if not m:
        raise BadInput(f"{option} {text!r}: expected LO:HI, e.g. 0.1:0.9, or with edges (0:1) / [0.1:0.9)")
    lo, hi = (_num(v, option, text) for v in (m.group(2), m.group(3)))
    if lo is not None and hi is not None and lo > hi:
        raise BadInput(f"{option} {text!r}: LO is above HI")
    return Window(lo, hi, m.group(1) == "(", m.group(4) == ")")


def _num(text: str, option: str, whole: str) -> float | None:
    if text == "":
        return None
    try:
        return float(text)
    except ValueError:
        raise BadInput(f"{option} {whole!r}: {text!r} is not a number") from None


def parse_names(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    names = tuple(dict.fromkeys(n.strip() for n in text.split(",") if n.strip()))
    return names or None


def parse_distribution(text: str) -> tuple[tuple[str, float], ...]:
    """`hard=0.5,medium=0.3,easy=0.2`; weights are normalized so `hard=5,medium=3,easy=2` is the same mix."""
    items = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        name, sep, value = part.partition("=")
        weight = _num(value.strip(), "--distribution", text) if sep else None
        if not name.strip() or weight is None or weight < 0:
            raise BadInput(f"--distribution {part!r}: expected BAND=WEIGHT, e.g. hard=0.5,medium=0.3,easy=0.2")
        items.append((name.strip(), weight))
    total = sum(w for _, w in items)
    if not items or total <= 0 or len({n for n, _ in items}) != len(items):
        raise BadInput(f"--distribution {text!r}: need distinct bands with weights summing above 0")
    return tuple((n, w / total) for n, w in items)


@dataclass(frozen=True)
class SelectConfig:
    by: By = "difficulty"
    keep: tuple[str, ...] | None = None
    pass_rate: Window | None = None
    max_cv: float | None = None
    models: tuple[str, ...] | None = None
    domains: tuple[str, ...] | None = None
    correct_only: bool = True
    length_tokens: Window | None = None
    per_prompt: int | None = None
    prefer: Prefer = "shortest"
    distribution: tuple[tuple[str, float], ...] | None = None
    total: int | None = None
    seed: int = 0
    pairs: bool = False
    band: Window | None = None  # --by perplexity|divergence: a window on its value
    quantile: Window | None = None  # ... or on its quantile among the input's rows (0: lowest, 1: highest)

    def check(self) -> None:
        if (self.band is not None or self.quantile is not None) and self.by not in SCORED:
            raise BadInput("--band and --quantile are windows on --by perplexity or --by divergence; add one")
        if self.quantile is not None and not (0 <= (self.quantile.lo or 0) and (self.quantile.hi or 1) <= 1):
            raise BadInput(f"--quantile {self.quantile}: quantiles are between 0 and 1")
        if self.distribution is not None and self.by != "difficulty":
            raise BadInput("--distribution samples a difficulty mix: use it with --by difficulty")
        if self.pairs and self.per_prompt is not None:
            raise BadInput("--pairs keeps one chosen and one rejected trace per prompt and model; drop --per-prompt")
        if self.max_cv is not None and self.max_cv < 0:
            raise BadInput(f"--max-cv {self.max_cv}: must be 0 or more")
