"""What a stage's tokens cost: a bundled per-million-token price table, a user's table or `--price`, and the sum.

Prices are data, not code (prices.yaml beside this module, with each provider's source and date), and are never
fetched: a cost estimate must not depend on the network. A local engine (`--backend vllm`) has no API price: its
runs record tokens and a null cost unless `--price` gives one (a GPU-hour rate turned into a token rate, say).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

import yaml

from distill_cli.errors import BadInput

PER = 1_000_000  # prices are per million tokens
BUNDLED = Path(__file__).with_name("prices.yaml")
LOCAL_BACKENDS = ("vllm",)
DEFAULT_BATCH_DISCOUNT = 0.5  # OpenAI's and Anthropic's batch APIs: half the list price
_DATED = re.compile(r"-(\d{4}-\d{2}-\d{2}|\d{8}|latest)$")  # gpt-4o-2024-08-06, claude-sonnet-4-20250514
_KEYS = {"in": "input", "input": "input", "out": "output", "output": "output", "cached": "cached_input",
         "cached_input": "cached_input", "batch": "batch_discount", "batch_discount": "batch_discount"}


@dataclass(frozen=True)
class Price:
    input: float  # USD per million prompt tokens not served from a cache
    output: float  # USD per million completion tokens (reasoning included)
    cached_input: float | None = None  # USD per million cached prompt tokens; None: billed as input
    batch_discount: float = 0.0  # share taken off by a batch backend
    source: str = ""  # where the price came from, shown in stats and the plan

    def cost(self, prompt: int, completion: int, cached: int = 0, batch: bool = False) -> float:
        """USD for these tokens; `cached` is the part of `prompt` a cache served."""
        cached = min(max(cached, 0), prompt)
        cached_rate = self.input if self.cached_input is None else self.cached_input
        usd = ((prompt - cached) * self.input + cached * cached_rate + completion * self.output) / PER
        return usd * (1.0 - self.batch_discount) if batch else usd

    def describe(self) -> dict:
        return {"input": self.input, "output": self.output, "cached_input": self.cached_input,
                "batch_discount": self.batch_discount, "per": "1M tokens", "source": self.source}


@dataclass(frozen=True)
class Priced:
    """The price a run uses, or None with the reason (a local engine, a model missing from the table)."""

    model: str
    backend: str
    price: Price | None
    note: str

    @property
    def batch(self) -> bool:
        return self.backend.endswith("-batch")

    @property
    def local(self) -> bool:
        return self.backend in LOCAL_BACKENDS

    def cost(self, prompt: int, completion: int, cached: int = 0) -> float | None:
        return None if self.price is None else self.price.cost(prompt, completion, cached, self.batch)

    def require(self, option: str) -> Price:
        """The price, or one line saying how to give one (only commands that need a cost call this)."""
        if self.price is None:
            raise BadInput(f"{option}: {self.note}")
        return self.price


def _number(key: str, value: object, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise BadInput(f"{where}: {key}: expected a number, got {value!r}")
    try:
        number = float(value)
    except ValueError:
        raise BadInput(f"{where}: {key}: expected a number, got {value!r}") from None
    if number < 0 or (key == "batch_discount" and number >= 1):
        raise BadInput(f"{where}: {key}: {number:g} is out of range")
    return number


def _price(fields: dict, where: str, source: str) -> Price:
    values = {}
    for key, value in fields.items():
        name = _KEYS.get(str(key))
        if name is None:
            if key in ("provider", "source", "as_of"):
                continue
            raise BadInput(f"{where}: unknown key {key!r} (expected in, out, cached, batch)")
        values[name] = _number(name, value, where)
    missing = [k for k in ("input", "output") if k not in values]
    if missing:
        raise BadInput(f"{where}: no {' and no '.join(missing)} price (e.g. in=3,out=15: USD per million tokens)")
    return Price(source=source, **values)


def parse_price(text: str) -> Price:
    """`--price in=3,out=15[,cached=0.3][,batch=0.5]`: USD per million tokens."""
    fields = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, eq, value = part.partition("=")
        if not eq:
            raise BadInput(f"--price {text!r}: expected KEY=VALUE pairs such as in=3,out=15")
        fields[key.strip()] = value.strip()
    return _price(fields, f"--price {text!r}", "--price")


def load_table(path: Path | None = None) -> dict[str, Price]:
    """A price table file (the bundled one by default): model name -> Price, with the provider's discount."""
    if path is None:
        return dict(_bundled())
    return _read_table(Path(path))


@cache
def _bundled() -> tuple[tuple[str, Price], ...]:
    return tuple(_read_table(BUNDLED).items())


def _read_table(path: Path) -> dict[str, Price]:
    try:
        doc = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise BadInput(f"{path}: cannot read the price table: {exc.strerror or exc}") from None
    except yaml.YAMLError as exc:
        raise BadInput(f"{path}: invalid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("models"), dict):
        raise BadInput(f"{path}: expected a mapping with `models:` (model name -> {{input:, output:}})")
    providers = doc.get("providers") or {}
    table = {}
    for name, fields in doc["models"].items():
        if not isinstance(fields, dict):
            raise BadInput(f"{path}: models: {name}: expected a mapping such as {{input: 3, output: 15}}")
        prov = providers.get(fields.get("provider"), {}) if isinstance(providers, dict) else {}
        merged = {"batch_discount": prov.get("batch_discount", 0.0), **fields}
        label = path.name if path != BUNDLED else "bundled prices.yaml"
        when = fields.get("as_of") or prov.get("as_of")
        source = f"{label}: {prov.get('source') or fields.get('source') or name}" + (f", as of {when}" if when
                                                                                     else "")
        table[str(name)] = _price(merged, f"{path}: models: {name}", source)
    return table


def lookup(model: str, table: dict[str, Price]) -> Price | None:
    """The table's price for a model name as a server or hub spells it: exact, any case, without a `vendor/`
    prefix, without a date or `-latest` suffix (gpt-4o-2024-08-06 is priced as gpt-4o)."""
    lowered = {k.lower(): v for k, v in table.items()}
    name = model.strip().lower()
    for candidate in (name, name.rsplit("/", 1)[-1]):
        for key in (candidate, _DATED.sub("", candidate)):
            if key in lowered:
                return lowered[key]
    return None


def resolve(model: str, backend: str, price: str | None = None, table_file: Path | None = None) -> Priced:
    """The price of `model` on `backend`: --price, then a user table, then (API backends only) the bundled one."""
    if price is not None:
        given = parse_price(price)
        if backend.endswith("-batch") and "batch" not in price:  # list prices given: the providers' batch half off
            given = replace(given, batch_discount=DEFAULT_BATCH_DISCOUNT)
        return Priced(model, backend, given, "given by --price")
    if table_file is not None:
        found = lookup(model, load_table(table_file))
        if found is not None:
            return Priced(model, backend, found, f"from {table_file}")
    if backend in LOCAL_BACKENDS:
        return Priced(model, backend, None, f"model {model} runs on a local engine (--backend {backend}), which "
                      "has no API price; pass --price in=...,out=... to cost its tokens")
    found = lookup(model, load_table())
    if found is None:
        where = f"{table_file} or the bundled price table" if table_file else "the bundled price table"
        return Priced(model, backend, None, f"no price for model {model!r} in {where}; pass --price "
                      "in=USD,out=USD (per million tokens) or --price-table FILE")
    return Priced(model, backend, found, "bundled price table")


def stage_cost(priced: Priced, tokens: dict) -> dict:
    """The `cost` entry of a generate stage's _stats.json, from its token totals."""
    usd = priced.cost(int(tokens.get("prompt", 0)), int(tokens.get("completion", 0)), int(tokens.get("cached", 0)))
    out = {"usd": None if usd is None else round(usd, 6), "model": priced.model, "backend": priced.backend,
           "batch": priced.batch}
    if priced.price is None:
        return {**out, "note": priced.note}
    return {**out, "price": priced.price.describe()}
