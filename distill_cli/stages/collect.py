"""collect: turn rows of any public dataset into the prompts contract (DESIGN.md: prompts columns)."""

from __future__ import annotations

import json
import unicodedata
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal

import polars as pl
import xxhash

from distill_cli.answers import extract_gold
from distill_cli.errors import BadInput
from distill_cli.schema import PROMPTS

AnswerFormat = Literal["auto", "boxed", "gsm8k", "raw"]
Domain = Literal["auto", "math", "code", "choice", "text"]

PROMPT_FIELDS = ("problem", "question", "prompt", "instruction", "query", "input", "content", "text")
ANSWER_FIELDS = ("answer", "final_answer", "expected_answer", "gt", "ground_truth", "gold", "target",
                 "label", "solution", "output")
TESTS_FIELDS = ("test_list", "tests", "input_output", "test_cases", "test")
CHOICE_FIELDS = ("choices", "options")
ROW = "__row"


@dataclass(frozen=True)
class CollectConfig:
    prompt_field: str | None = None
    answer_field: str | None = None
    answer_format: AnswerFormat = "auto"
    domain: Domain = "auto"
    tests_field: str | None = None
    max_prompt_chars: int = 1_000_000  # a longer "prompt" is a broken row (a whole file pasted in), not a task
    tests_in_prompt: int = 0  # code: append the first N assert tests (MBPP's "Your code should pass these tests:")


@dataclass(frozen=True)
class Fields:
    """The source columns that feed the contract columns, decided once per source."""

    prompt: str
    answer: str | None
    tests: str | None
    choices: str | None
    domain: str


def _pick(columns: list[str], wanted: str | None, candidates: tuple[str, ...], what: str, source: str) -> str | None:
    if wanted is not None:
        if wanted not in columns:
            raise BadInput(f"{source}: no column '{wanted}' for {what}; columns are: {', '.join(columns)}")
        return wanted
    lowered = {c.lower(): c for c in columns}
    return next((lowered[c] for c in candidates if c in lowered), None)


def resolve_fields(columns: list[str], cfg: CollectConfig, source: str) -> Fields:
    prompt = _pick(columns, cfg.prompt_field, PROMPT_FIELDS, "the prompt", source)
    if prompt is None:
        raise BadInput(f"{source}: cannot tell which column is the prompt (columns: {', '.join(columns)}); "
                       "pass --prompt-field")
    rest = [c for c in columns if c != prompt]
    tests = _pick(rest, cfg.tests_field, TESTS_FIELDS, "the tests", source)
    choices = _pick(rest, None, CHOICE_FIELDS, "the choices", source)
    answer = _pick([c for c in rest if c != tests], cfg.answer_field, ANSWER_FIELDS, "the answer", source)
    domain = cfg.domain
    if domain == "auto":
        domain = "code" if tests else "choice" if choices else "math" if answer else "text"
    if answer is None and domain in ("math", "choice"):
        raise BadInput(f"{source}: no answer column found (columns: {', '.join(columns)}); "
                       "pass --answer-field, or --domain text for prompts without answers")
    if domain == "code" and tests is None:
        raise BadInput(f"{source}: --domain code needs a tests column (columns: {', '.join(columns)}); "
                       "pass --tests-field")
    return Fields(prompt, answer, tests, choices, domain)


def normalize_prompt(text: str) -> str:
    """NFKC (skipped for ASCII, where it is the identity), whitespace runs folded to one space, trimmed."""
    return " ".join((text if text.isascii() else unicodedata.normalize("NFKC", text)).split())


def prompt_id(text: str) -> str:
    """Stable across runs, machines and versions: xxh3-64 of the normalized prompt text."""
    return xxhash.xxh3_64_hexdigest(normalize_prompt(text).encode())


_NEEDS_NORMALIZING = r"[^\x20-\x7e]|  |^ | $"  # non-ASCII or control characters, runs or ends of spaces


def prompt_ids(prompts: pl.Series) -> list[str]:
    """prompt_id over many prompts; only those that are not already in normal form pay for normalizing.

    This is collect's hot loop: the normal-form test and the UTF-8 bytes come from polars, the hash from xxhash.
    """
    digest = xxhash.xxh3_64_hexdigest
    needs = prompts.str.contains(_NEEDS_NORMALIZING)
    if needs.any():
        fixed = [normalize_prompt(p) for p in prompts.filter(needs).to_list()]
        prompts = prompts.clone().scatter(needs.arg_true(), fixed)  # the caller keeps the original text
    return list(map(digest, prompts.cast(pl.Binary).to_list()))


def _as_text(expr: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """Answers arrive as str, int or float (AMC's 27.0); integral floats are written as integers."""
    if dtype.is_float():
        return pl.when(expr == expr.round()).then(expr.cast(pl.Int64).cast(pl.String)).otherwise(expr.cast(pl.String))
    if dtype == pl.String:
        return expr
    if dtype.is_numeric() or dtype == pl.Boolean:
        return expr.cast(pl.String)
    return expr.map_elements(lambda v: json.dumps(v, default=str), return_dtype=pl.String)


def _tests_json(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            json.loads(value)
            return value
        except json.JSONDecodeError:
            return json.dumps([value])
    if isinstance(value, pl.Series):
        value = value.to_list()
    return json.dumps(value)


def _with_tests(prompt: str, tests: str | None, n: int) -> str:
    """MBPP-style prompts do not name the function the tests call; showing a test or two is how they are posed."""
    shown = json.loads(tests) if tests else None
    if not isinstance(shown, list) or not shown:
        return prompt  # stdin/stdout and fn_name cases describe their interface in the prompt itself
    return prompt + "\nYour code should pass these tests:\n\n" + "\n".join(str(t) for t in shown[:n])


def _with_choices(prompt: str, choices, answer: str | None) -> tuple[str, str | None]:
    choices = list(choices or [])
    letters = "ABCDEFGHIJKLMNOP"
    body = "\n".join(f"{letters[i]}. {c}" for i, c in enumerate(choices))
    if answer is not None and answer.isdigit() and int(answer) < len(choices):
        answer = letters[int(answer)]
    return f"{prompt}\n\n{body}", answer


def _answer_expr(df: pl.DataFrame, fields: Fields, fmt: AnswerFormat) -> pl.Expr:
    if fields.answer is None:
        return pl.lit(None, dtype=pl.String)
    dtype = df.schema[fields.answer]
    answer = _as_text(pl.col(fields.answer), dtype)
    if fmt == "raw":
        answer = answer.str.strip_chars()
    elif fmt == "gsm8k" or (fmt == "auto" and dtype == pl.String and
                            df[fields.answer].str.contains("####", literal=True).all()):
        # vectorized twin of answers.gsm8k_final, for the common case of a whole GSM8K-style column
        final = answer.str.split("####").list.last().str.strip_chars().str.replace_all(",", "", literal=True)
        answer = pl.when(answer.str.contains("####", literal=True)).then(final)
    else:
        answer = answer.map_elements(lambda v: extract_gold(v, fmt), return_dtype=pl.String)
    return pl.when(answer.str.len_chars() > 0).then(answer)


def _reason_expr(fields: Fields, cfg: CollectConfig) -> pl.Expr:
    prompt = pl.col("prompt")
    return (
        pl.when(prompt.is_null() | (prompt.str.len_chars() == 0)).then(pl.lit("empty_prompt"))
        .when(prompt.str.len_chars() > cfg.max_prompt_chars).then(pl.lit("prompt_too_long"))
        .when(pl.lit(fields.domain in ("math", "choice")) & pl.col("answer").is_null()).then(pl.lit("unusable_answer"))
        .when(pl.lit(fields.domain == "code") & pl.col("tests").is_null()).then(pl.lit("missing_tests"))
    )


def normalize(df: pl.DataFrame, fields: Fields, cfg: CollectConfig, source: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Map one batch of source rows to the prompts contract; returns (rows, rejected rows with a reason).

    `df` must carry a `__row` column with each row's position in its source, for the rejects list. Prompt ids are
    hashed in a thread while polars (which releases the GIL) builds the other columns.
    """
    used = {fields.prompt, fields.answer, fields.tests, fields.choices, ROW} - {None}
    others = [c for c in df.columns if c not in used]
    prompts = df.select(pl.col(fields.prompt).cast(pl.String).str.strip_chars().fill_null("")).to_series()
    with ThreadPoolExecutor(1) as pool:
        rewritten = fields.choices or (fields.tests and cfg.tests_in_prompt)  # prompts change below
        ids = None if rewritten else pool.submit(prompt_ids, prompts)
        out = df.select(
            pl.col(ROW),
            pl.lit(prompts).alias("prompt"),
            _answer_expr(df, fields, cfg.answer_format).alias("answer"),
            (pl.col(fields.tests).map_elements(_tests_json, return_dtype=pl.String, skip_nulls=True)
             if fields.tests else pl.lit(None, dtype=pl.String)).alias("tests"),
            (pl.struct(others).struct.json_encode() if others else pl.lit(None, dtype=pl.String)).alias("meta"),
        )
        if fields.choices:
            pairs = [_with_choices(p, c, a) for p, c, a in zip(out["prompt"], df[fields.choices], out["answer"],
                                                               strict=True)]
            out = out.with_columns(pl.Series("prompt", [p for p, _ in pairs], pl.String),
                                   pl.Series("answer", [a for _, a in pairs], pl.String))
        if fields.tests and cfg.tests_in_prompt:
            out = out.with_columns(pl.Series("prompt", [_with_tests(p, t, cfg.tests_in_prompt) for p, t in zip(
                out["prompt"], out["tests"], strict=True)], pl.String))
        id_list = ids.result() if ids else prompt_ids(out["prompt"])
    out = out.with_columns(_reason_expr(fields, cfg).alias("__reason"), pl.Series("id", id_list, pl.String))
    bad = out.get_column("__reason").is_not_null()
    rejects = out.filter(bad).select(
        pl.lit(source).alias("source"), pl.col(ROW).alias("row"), pl.col("__reason").alias("reason"),
        pl.col("prompt").str.slice(0, 200).alias("prompt"))
    kept = (out.filter(~bad) if rejects.height else out).with_columns(
        pl.lit(fields.domain).alias("domain"), pl.lit(source).alias("source"))
    return kept.select(list(PROMPTS)), rejects


def dedupe_ids(df: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """Keep the first row of each id; the same problem from two sources or twice in one is counted once."""
    first = df.get_column("id").is_first_distinct()
    unique = df if first.all() else df.filter(first)
    return unique, df.height - unique.height


def reject_counts(rejects: pl.DataFrame) -> dict[str, int]:
    return dict(Counter(rejects["reason"].to_list())) if rejects.height else {}
