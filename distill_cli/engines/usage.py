"""Token usage of one request, read from whatever an API returns, in one shape every backend records.

The shape is OpenAI's: `prompt_tokens` includes the cached part and `completion_tokens` includes the reasoning
part, so a cost is (prompt - cached) x input + cached x cached-input + completion x output. Anthropic's usage
(input_tokens excludes cache reads and writes) is converted to that shape here, once, for every backend.
`None` in cached or reasoning means the API did not say (not zero): a cost then bills every prompt token at the
input price.
"""

from __future__ import annotations

from dataclasses import dataclass

# the per-row columns every generate backend fills (the traces contract keeps prompt and completion tokens)
USAGE_COLUMNS = ("prompt_tokens", "completion_tokens", "cached_tokens", "reasoning_tokens")


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int | None = None  # prompt tokens served from a cache (part of prompt_tokens)
    reasoning_tokens: int | None = None  # completion tokens spent thinking (part of completion_tokens)


def _int(value: object) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def usage_from_api(usage: dict | None) -> Usage:
    """An OpenAI (chat or batch) or Anthropic (messages or batch) `usage` object; {} or None gives zeros."""
    if not isinstance(usage, dict):
        return Usage()
    if "input_tokens" in usage and "prompt_tokens" not in usage:  # Anthropic
        read = _int(usage.get("cache_read_input_tokens"))
        written = _int(usage.get("cache_creation_input_tokens")) or 0
        prompt = (_int(usage.get("input_tokens")) or 0) + (read or 0) + written
        return Usage(prompt, _int(usage.get("output_tokens")) or 0, read, None)
    prompt_details = usage.get("prompt_tokens_details") or {}
    completion_details = usage.get("completion_tokens_details") or {}
    return Usage(
        prompt_tokens=_int(usage.get("prompt_tokens")) or 0,
        completion_tokens=_int(usage.get("completion_tokens")) or 0,
        cached_tokens=_int(prompt_details.get("cached_tokens")) if isinstance(prompt_details, dict) else None,
        reasoning_tokens=(_int(completion_details.get("reasoning_tokens"))
                          if isinstance(completion_details, dict) else None),
    )
