"""A stage package's names, imported on first use: the CLI imports a stage's config.py through the package without
loading its core (polars, numpy) or its engines, which keeps `distill --help` fast."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module


def lazy_names(package: str, homes: dict[str, str]) -> Callable[[str], object]:
    """A module `__getattr__` for `package` that finds `name` in the submodule `homes[name]`."""

    def __getattr__(name: str) -> object:
        if name in homes:
            return getattr(import_module(f"{package}.{homes[name]}"), name)
        raise AttributeError(name)

    return __getattr__
