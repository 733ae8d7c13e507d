"""filter: drop traces with defects that verification cannot see (config.py, core.py, run.py)."""

from importlib import import_module

_HOMES = {
    "DEFAULT_REFUSALS": "config",
    "REASONS": "config",
    "FilterConfig": "config",
    "FILTERED_SCHEMA": "core",
    "FilterResult": "core",
    "filter_frame": "core",
}
__all__ = list(_HOMES)


def __getattr__(name: str):
    """The package's names, imported on first use: the CLI imports config.py here without loading the core."""
    if name in _HOMES:
        return getattr(import_module(f"{__name__}.{_HOMES[name]}"), name)
    raise AttributeError(name)
