"""filter: the configuration of its checks, one field (a threshold, or None for off) per check.

The defaults are on and conservative: they drop traces that are clearly defective (cut at the token limit, a
thinking block never closed, a loop, a switch of script mid-thought, disagreeing final answers, a refusal) and keep
clean traces, measured on real MATH-500 reasoning in tests/stages/filter. Every threshold can be loosened,
tightened or turned off from the command line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from distill_cli.errors import BadInput

Think = Literal["auto", "required", "off"]

# The order in which reasons are named: a row failing several checks is listed under the first (all are kept in
# the side table's `reasons` column).
REASONS = ("truncated", "think_unclosed", "think_missing", "empty_answer", "repetition", "repeated_span",
           "foreign_script", "foreign_language", "answers_disagree", "answer_unsupported", "refusal",
           "perplexity_high", "perplexity_low")

# Phrases of refusals and assistant meta-text that do not belong in a reasoning trace; case-insensitive regexes.
# `--refusal-pattern` adds to them, `--no-default-refusals` drops them.
DEFAULT_REFUSALS = (
    r"\bas an ai\b",
    r"\bas a (?:large )?language model\b",
    r"\bi(?:'m| am) (?:sorry|afraid),? but i (?:can(?:'t|not)|won't|am unable)",
    r"\bi (?:can(?:'t|not)|won't|am unable to|am not able to) (?:help|assist|provide|fulfil+|comply|answer) "
    r"(?:with )?(?:that|this|your)",
    r"\bmy (?:knowledge cutoff|training data)\b",
)


@dataclass(frozen=True)
class FilterConfig:
    truncated: bool = True  # finish_reason == "length"
    think: Think = "auto"  # auto: a model thinks when most of its rows have a reasoning; off: no think checks
    empty_answer: bool = True
    ngram: int = 20  # words per n-gram of the repetition checks
    max_repeated_share: float | None = 0.2  # share of the trace's word n-grams that repeat an earlier one
    max_repeated_span: int | None = 400  # longest run of words (>= ngram) that repeats earlier text
    max_foreign_script: float | None = 0.02  # share of the reasoning's letters in a script the prompt does not use
    max_foreign_language: float | None = 0.34  # share of sampled reasoning windows in another language (detector)
    language_windows: int = 6  # prose windows of the reasoning sent to the language detector per row
    multiple_answers: bool = True  # several \boxed{} in the response that disagree
    unsupported_answer: bool = True  # the boxed answer never appears in the reasoning
    refusals: tuple[str, ...] = DEFAULT_REFUSALS
    perplexity_column: str = "perplexity"
    max_perplexity: float | None = None
    min_perplexity: float | None = None
    batch_rows: int = 256  # rows per batch of the n-gram checks, which bound their memory


def filter_config(truncated: bool, think: Think, empty_answer: bool, ngram: int, max_repeated_share: str,
                  max_repeated_span: str, max_foreign_script: str, max_foreign_language: str, language_windows: int,
                  answers_disagree: bool, answer_unsupported: bool, refusal_pattern: list[str],
                  refusal_file: Path | None, default_refusals: bool, max_perplexity: float | None,
                  min_perplexity: float | None, perplexity_column: str) -> FilterConfig:
    """The run's params from the option texts: thresholds (a number or off), the refusal patterns compiled."""
    return FilterConfig(
        truncated=truncated, think=think, empty_answer=empty_answer, ngram=ngram,
        max_repeated_share=parse_threshold("--max-repeated-share", max_repeated_share, share=True),
        max_repeated_span=parse_span(max_repeated_span), language_windows=language_windows,
        max_foreign_script=parse_threshold("--max-foreign-script", max_foreign_script, share=True),
        max_foreign_language=parse_threshold("--max-foreign-language", max_foreign_language, share=True),
        multiple_answers=answers_disagree, unsupported_answer=answer_unsupported,
        refusals=refusal_patterns(refusal_pattern, refusal_file, default_refusals),
        perplexity_column=perplexity_column, max_perplexity=max_perplexity, min_perplexity=min_perplexity)


def parse_threshold(name: str, text: str, share: bool = False) -> float | None:
    if text.strip().lower() in ("off", "none", "no"):
        return None
    try:
        value = float(text)
    except ValueError:
        raise BadInput(f"{name} {text!r}: expected a number or 'off'") from None
    if value < 0 or (share and value > 1):
        raise BadInput(f"{name} {text!r}: expected a share in [0, 1] or 'off'")
    return value


def parse_span(text: str) -> int | None:
    value = parse_threshold("--max-repeated-span", text)
    return None if value is None else int(value)


def refusal_patterns(patterns: list[str], file: Path | None, defaults: bool) -> tuple[str, ...]:
    if file is not None:
        if not file.is_file():
            raise BadInput(f"--refusal-file {file}: no such file")
        patterns = [*patterns, *(ln.strip() for ln in file.read_text(encoding="utf-8").splitlines() if ln.strip())]
    from distill_cli.stages.filter.checks import check_pattern  # polars' regex engine decides

    for pattern in patterns:
        why = check_pattern(pattern)
        if why:
            raise BadInput(f"--refusal-pattern {pattern!r}: not a valid regex: {why}")
    return (*(DEFAULT_REFUSALS if defaults else ()), *patterns)
