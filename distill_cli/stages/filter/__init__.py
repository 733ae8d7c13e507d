"""filter: drop traces with defects that verification cannot see (pure core; see core.py)."""

from distill_cli.stages.filter.config import DEFAULT_REFUSALS, REASONS, FilterConfig
from distill_cli.stages.filter.core import FILTERED_SCHEMA, FilterResult, filter_frame

__all__ = ["DEFAULT_REFUSALS", "FILTERED_SCHEMA", "REASONS", "FilterConfig", "FilterResult", "filter_frame"]
