"""collect: turn rows of any public dataset into the prompts contract (DESIGN.md: prompts columns)."""

from __future__ import annotations

import json
import unicodedata
from collections import Counter
from dataclasses import dataclass
from functools import cache

import polars as pl
import polars_hash  # noqa: F401  (registers the .nchash expression namespace)

from distill_cli.answers import extract_gold
from distill_cli.errors import BadInput
from distill_cli.schema import PROMPTS
from distill_cli.stages.collect.config import AnswerFormat, CollectConfig, Domain  # noqa: F401

PROMPT_FIELDS = ("problem", "question", "prompt", "instruction", "query", "input", "content", "text")
ANSWER_FIELDS = ("answer", "final_answer", "expected_answer", "gt", "ground_truth", "gold", "target",
                 "label", "solution", "output")
TESTS_FIELDS = ("test_list", "tests", "input_output", "test_cases", "test")
# code the tests need run first (MBPP's `test_imports`, full MBPP's `test_setup_code`): put in front of each test
SETUP_FIELDS = ("test_imports", "test_setup_code", "test_setup")
CHOICE_FIELDS = ("choices", "options")
ROW = "__row"


@dataclass(frozen=True)
class Fields:
    """The source columns that feed the contract columns, decided once per source."""

    prompt: str
    answer: str | None
    tests: str | None
    choices: str | None
    domain: str
    setup: str | None = None


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
    setup = _pick(rest, None, SETUP_FIELDS, "the test setup", source) if tests else None
    domain = cfg.domain
    if domain == "auto":
        domain = "code" if tests else "choice" if choices else "math" if answer else "text"
    if answer is None and domain in ("math", "choice"):
        raise BadInput(f"{source}: no answer column found (columns: {', '.join(columns)}); "
                       "pass --answer-field, or --domain text for prompts without answers")
    if domain == "code" and tests is None:
        raise BadInput(f"{source}: --domain code needs a tests column (columns: {', '.join(columns)}); "
                       "pass --tests-field")
    return Fields(prompt, answer, tests, choices, domain, setup)


def normalize_prompt(text: str) -> str:
    """NFKC (skipped for ASCII, where it is the identity), whitespace runs folded to one space, trimmed."""
    return " ".join((text if text.isascii() else unicodedata.normalize("NFKC", text)).split())


def prompt_id(text: str) -> str:
    """Stable across runs, machines and versions: xxh3-64 of the normalized prompt's UTF-8, as 16 hex digits."""
    return prompt_ids(pl.Series([text]))[0]


def _not_normal(text: pl.Expr) -> pl.Expr:
    """True where normalize_prompt would change the text: non-ASCII, whitespace other than single inner spaces.

    Five cheap scans; one regex with all of it in an alternation costs as much again (measured).
    """
    return ((text.str.len_bytes() != text.str.len_chars()) | text.str.starts_with(" ") | text.str.ends_with(" ")
            | text.str.contains(r"[\t\n\x0b\x0c\r\x1c-\x1f]") | text.str.contains("  ", literal=True))


@cache
def _hex_pairs() -> pl.Series:
    return pl.Series([f"{i:04x}" for i in range(1 << 16)])


def _hex_id(text: pl.Expr) -> pl.Expr:
    """xxh3-64 of the UTF-8 text (native, via polars-hash) written as xxhash's hexdigest: 16 digits, big-endian."""
    digest = text.nchash.xxh3_64()
    return pl.concat_str([pl.lit(_hex_pairs()).gather(digest // (1 << shift) % (1 << 16)) for shift in (48, 32, 16, 0)])


def prompt_ids(prompts: pl.Series) -> pl.Series:
    """prompt_id over many prompts; only those not already in normal form pay for normalizing in Python."""
    frame = prompts.cast(pl.String).fill_null("").to_frame("p")
    odd = frame.select(_not_normal(pl.col("p"))).to_series()
    if odd.any():
        fixed = [normalize_prompt(p) for p in frame["p"].filter(odd).to_list()]
        frame = pl.DataFrame({"p": frame["p"].clone().scatter(odd.arg_true(), fixed)})
    return frame.select(_hex_id(pl.col("p")).alias("id")).to_series()


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


def _setup_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, pl.Series):
        value = value.to_list()
    if isinstance(value, list):
        return "\n".join(str(v) for v in value if v is not None and str(v).strip())
    return str(value).strip()


def with_setup(tests: str | None, setup) -> str | None:
    """Each test statement runs on its own after the program, so setup code (MBPP's `import math` for
    `math.isclose` in task 98) goes in front of every statement; stdin/stdout and fn_name cases need none."""
    code = _setup_text(setup)
    if not code or tests is None:
        return tests
    statements = json.loads(tests)
    if not isinstance(statements, list) or not all(isinstance(t, str) for t in statements):
        return tests
    return json.dumps([f"{code}\n{t}" for t in statements])


def _with_tests(prompt: str, tests: str | None, n: int) -> str:
    """MBPP-style prompts do not name the function the tests call; showing a test or two is how they are posed."""
    shown = json.loads(tests) if tests else None
    if not isinstance(shown, list) or not shown:
        return prompt  # stdin/stdout and fn_name cases describe their interface in the prompt itself
    return prompt + "\nYour code should pass these tests:\n\n" + "\n".join(str(t) for t in shown[:n])


def _with_choices(prompt: str, choices, answer: str | None) -> tuple[str, str | None]:
    choices = [] if choices is None else list(choices)  # a list column hands each row over as a Series
    letters = "ABCDEFGHIJKLMNOP"
    body = "\n".join(f"{letters[i]}. {c}" for i, c in enumerate(choices))
    if answer is not None and answer.isdigit() and int(answer) < len(choices):
        answer = letters[int(answer)]
    return f"{prompt}\n\n{body}", answer


def _answer_expr(df: pl.DataFrame, fields: Fields, fmt: AnswerFormat) -> pl.Expr:
    """The final answer as text; may be "" (normalize turns that into null, once, on the short result)."""
    if fields.answer is None:
        return pl.lit(None, dtype=pl.String)
    dtype = df.schema[fields.answer]
    answer = _as_text(pl.col(fields.answer), dtype)
    if fmt == "raw":
        return answer.str.strip_chars()
    marked = (fmt in ("auto", "gsm8k") and dtype == pl.String
              and df[fields.answer].str.contains("####", literal=True).all())
    if fmt == "gsm8k" or (fmt == "auto" and marked):
        # vectorized twin of answers.gsm8k_final, for the common case of a whole GSM8K-style column
        final = answer.str.split("####").list.last().str.strip_chars().str.replace_all(",", "", literal=True)
        return final if marked else pl.when(answer.str.contains("####", literal=True)).then(final)
    return answer.map_elements(lambda v: extract_gold(v, fmt), return_dtype=pl.String)


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

    `df` must carry a `__row` column with each row's position in its source, for the rejects list. Every column,
    ids included, comes from one polars select, which runs its expressions in parallel; Python touches only the
    prompts that are not in normal form, and prompts that collect rewrites (choices, tests).
    """
    used = {fields.prompt, fields.answer, fields.tests, fields.choices, fields.setup, ROW} - {None}
    others = [c for c in df.columns if c not in used]
    raw = pl.col(fields.prompt).cast(pl.String).fill_null("")
    rewrites = bool(fields.choices or (fields.tests and cfg.tests_in_prompt))  # ids hash the rewritten prompt
    out = df.select(
        pl.col(ROW),
        raw.alias("prompt"),
        (pl.lit(None, dtype=pl.String) if rewrites else _hex_id(raw)).alias("id"),
        _not_normal(raw).alias("__odd"),
        _answer_expr(df, fields, cfg.answer_format).alias("answer"),
        (pl.col(fields.tests).map_elements(_tests_json, return_dtype=pl.String, skip_nulls=True)
         if fields.tests else pl.lit(None, dtype=pl.String)).alias("tests"),
        (pl.struct(others).struct.json_encode() if others else pl.lit(None, dtype=pl.String)).alias("meta"),
    )
    out = out.with_columns(pl.when(pl.col("answer") != "").then(pl.col("answer")).alias("answer"))
    odd = out.get_column("__odd")
    if odd.any():  # trim those prompts and hash their normal form
        texts, where = out.get_column("prompt").filter(odd), odd.arg_true()
        out = out.with_columns(out.get_column("prompt").clone().scatter(where, texts.str.strip_chars()))
        if not rewrites:
            out = out.with_columns(out.get_column("id").clone().scatter(where, prompt_ids(texts)))
    if fields.choices:
        pairs = [_with_choices(p, c, a) for p, c, a in zip(out["prompt"], df[fields.choices], out["answer"],
                                                           strict=True)]
        out = out.with_columns(pl.Series("prompt", [p for p, _ in pairs], pl.String),
                               pl.Series("answer", [a for _, a in pairs], pl.String))
    if fields.tests and cfg.tests_in_prompt:
        out = out.with_columns(pl.Series("prompt", [_with_tests(p, t, cfg.tests_in_prompt) for p, t in zip(
            out["prompt"], out["tests"], strict=True)], pl.String))
    if rewrites:
        out = out.with_columns(prompt_ids(out["prompt"]))
    if fields.setup:  # after the prompt shows the tests as the source poses them
        out = out.with_columns(pl.Series("tests", [with_setup(t, s) for t, s in zip(
            out["tests"], df[fields.setup], strict=True)], pl.String))
    out = out.with_columns(_reason_expr(fields, cfg).alias("__reason"))
    bad = out.get_column("__reason").is_not_null()
    rejects = out.filter(bad).select(
        pl.lit(source).alias("source"), pl.col(ROW).alias("row"), pl.col("__reason").alias("reason"),
        pl.col("prompt").str.slice(0, 200).alias("prompt"))
    kept = (out.filter(~bad) if rejects.height else out).with_columns(
        pl.lit(fields.domain).alias("domain"), pl.lit(source).alias("source"))
    return kept.select(list(PROMPTS)), rejects


def dedupe_ids(df: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """Keep the first row of each id; the same problem from two sources or twice in one is counted once.

    Ids are 64-bit hashes in hex, compared here as the integers they are (a third of the cost of strings).
    """
    keys = df.get_column("id").str.to_integer(base=16, dtype=pl.UInt64)
    if keys.n_unique() == df.height:
        return df, 0
    unique = df.filter(keys.is_first_distinct())
    return unique, df.height - unique.height


def reject_counts(rejects: pl.DataFrame) -> dict[str, int]:
    return dict(Counter(rejects["reason"].to_list())) if rejects.height else {}
