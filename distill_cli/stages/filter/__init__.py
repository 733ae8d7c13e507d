"""filter: drop traces with defects that verification cannot see (config.py, core.py, run.py)."""

from distill_cli.stages.lazy import lazy_names

_HOMES = {
    "DEFAULT_REFUSALS": "config",
    "REASONS": "config",
    "FilterConfig": "config",
    "FILTERED_SCHEMA": "core",
    "FilterResult": "core",
    "filter_frame": "core",
}
__all__ = list(_HOMES)

__getattr__ = lazy_names(__name__, _HOMES)
