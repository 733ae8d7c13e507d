"""The row checks of `filter` that are plain polars expressions over a trace's columns.

Each function returns a boolean expression that is true for a defective row (null-safe: a missing value is never
a defect by itself, except where the check is about that value being missing). They read the traces contract
columns: `completion`, `reasoning`, `response`, `finish_reason`, `model`.
"""

from __future__ import annotations

import polars as pl

from distill_cli.stages.filter.config import Think

# \boxed{...} with up to three levels of nested braces (\frac{\sqrt{3}}{2}); Rust regex has no recursion
_INNER = r"(?:[^{}]|\{(?:[^{}]|\{(?:[^{}]|\{[^{}]*\})*\})*\})*"
BOXED = r"\\(?:boxed|fbox)\s*\{" + _INNER + r"\}"
_NOISE = r"\s+|\\left|\\right|\\[,;:! ]|\$|\\displaystyle"


def _text(name: str) -> pl.Expr:
    return pl.col(name).cast(pl.String)


def normalize_math(expr: pl.Expr) -> pl.Expr:
    """A math answer as written, with the spelling differences that do not change it removed."""
    return (expr.str.replace_all(_NOISE, "")
            .str.replace_all(r"\\[dt]frac", r"\frac")
            .str.replace_all(r"\\(?:text|textbf|mathrm|mbox)\{([^{}]*)\}", "$1")
            .str.replace_all(r"\^\{?\\circ\}?|°", "")
            .str.strip_chars_end("."))


def truncated() -> pl.Expr:
    """Cut at the token limit: its end is missing, whatever it says before."""
    return (_text("finish_reason") == "length").fill_null(False)


def think_unclosed(columns: list[str]) -> pl.Expr:
    """A thinking block that was opened and never closed (the reasoning is set but the completion has no
    `</think>`; without a completion column: a reasoning and no response)."""
    has_reasoning = pl.col("reasoning").is_not_null()
    if "completion" in columns:
        return (has_reasoning & ~_text("completion").fill_null("").str.contains("</think>", literal=True))
    return has_reasoning & (_text("response").fill_null("").str.strip_chars() == "")


def _blank(name: str) -> pl.Expr:
    """Null or only whitespace (without a stripped copy of every text)."""
    return ~_text(name).fill_null("").str.contains(r"\S")


def think_missing(mode: Think, columns: list[str]) -> pl.Expr:
    """No thinking from a model that thinks: `required` says every model does; `auto` says a model does when
    most of its rows in the shard have a reasoning."""
    absent = _blank("reasoning")
    if mode == "off":
        return pl.lit(False)
    if mode == "required":
        return absent
    group = "model" if "model" in columns else None
    thinks = (~absent).mean().over(group) > 0.5 if group else (~absent).mean() > 0.5
    return absent & thinks


def empty_answer() -> pl.Expr:
    return _blank("response")


def boxed_answers(expr: pl.Expr) -> pl.Expr:
    """Every \\boxed{} of a text, unwrapped and normalized, in order."""
    return (expr.fill_null("").str.extract_all(BOXED)
            .list.eval(normalize_math(pl.element().str.replace(r"^\\(?:boxed|fbox)\s*\{", "")
                                      .str.replace(r"\}$", "").str.strip_chars())))


def answers_disagree() -> pl.Expr:
    """More than one distinct final answer in the response (several \\boxed{} that disagree)."""
    return boxed_answers(_text("response")).list.n_unique() > 1


def answer_unsupported(df: pl.DataFrame) -> pl.Series:
    """The response's final boxed answer never appears in the reasoning (or, for a trace without reasoning,
    before the response's last paragraph): an answer the trace does not derive. Traces without a boxed answer
    are not judged. The raw answer found in the raw text settles most rows with one literal scan; only the others
    are compared again with both sides normalized."""
    response = _text("response").fill_null("")
    has_reasoning = ~_blank("reasoning")
    raw = (response.str.extract_all(BOXED).list.last().str.replace(r"^\\(?:boxed|fbox)\s*\{", "")
           .str.replace(r"\}$", "").str.strip_chars())
    before_last = response.str.extract(r"(?s)^(.*)\n\s*\n", 1).fill_null("")
    found = pl.when(has_reasoning).then(_text("reasoning").str.contains(raw, literal=True))
    found = found.otherwise(before_last.str.contains(raw, literal=True))
    judged = df.select(raw=raw, found=found.fill_null(False)).with_row_index("i")
    open_rows = judged.filter((pl.col("raw").fill_null("") != "") & ~pl.col("found"))
    if open_rows.height:
        support = df[open_rows["i"]].select(pl.when(~_blank("reasoning")).then(_text("reasoning"))
                                            .otherwise(before_last).alias("s"))["s"]
        answer = normalize_math(pl.col("raw"))
        open_rows = open_rows.with_columns(s=support).filter(
            (answer != "") & ~normalize_math(pl.col("s")).str.contains(answer, literal=True))
    return pl.Series("answer_unsupported", [False] * df.height).scatter(open_rows["i"], True)


def refusal(patterns: tuple[str, ...]) -> pl.Expr:
    """A refusal or assistant meta-text anywhere in the trace (case-insensitive patterns)."""
    if not patterns:
        return pl.lit(False)
    rx = "(?i)(?:" + "|".join(f"(?:{p})" for p in patterns) + ")"
    return (_text("reasoning").fill_null("").str.contains(rx) | _text("response").fill_null("").str.contains(rx))


def check_pattern(pattern: str) -> str | None:
    """Why polars' regex engine rejects a pattern, or None when it compiles."""
    try:
        pl.Series([""]).str.contains(pattern)
    except pl.exceptions.PolarsError as exc:
        return str(exc).splitlines()[0]
    return None
