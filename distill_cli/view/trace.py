"""What a trace page shows, computed from a prompt's rows: pure functions, no files and no HTML.

A prompt's page holds every trace of it (all models, all samples); one is open. Why a trace got its verdict is
said in words from the columns verify leaves (verdict, extracted, reference, finish reason, score, error),
compression is shown as a word diff of the reasoning before and after, and a row dedupe removed carries the
side-file record that says what it matched.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

import polars as pl

MAX_DIFF_WORDS = 40_000  # past this a diff is slow to compute and unreadable; both texts are shown instead


@dataclass(frozen=True)
class Removal:
    """A side-file record of dedupe: the row was dropped as a duplicate or as benchmark contamination."""

    stage: str  # the dedupe stage that removed it
    kind: str  # duplicates | contamination
    record: dict
    cluster: list[dict] = field(default_factory=list)  # the other removed rows that share the kept row


def verdict_reason(row: dict) -> str:
    """The verdict in words: what was extracted, against which reference, and why it counts as it does."""
    verdict, extracted, answer = row.get("verdict"), row.get("extracted"), row.get("answer")
    if row.get("error"):
        return str(row["error"])
    if verdict is None:
        return "not verified"
    cut = " The generation was cut off (finish_reason=length)." if row.get("finish_reason") == "length" else ""
    if row.get("domain") == "code" and row.get("score") is not None and verdict in ("correct", "incorrect"):
        return f"The program passed {float(row['score']):.0%} of the tests."
    reasons = {
        "correct": f"The extracted answer “{extracted}” matches the reference “{answer}”.",
        "incorrect": f"The extracted answer “{extracted}” does not match the reference “{answer}”.",
        "no_answer": "No final answer was found in the response (after the reasoning)." + cut,
        "unverifiable": f"The reference answer “{answer}” could not be parsed, so no answer can be checked.",
        "timeout": "The check ran past its timeout.",
        "error": "The checker failed on this trace.",
    }
    return reasons.get(str(verdict), f"verdict {verdict}") + ("" if verdict == "no_answer" else cut)


def order_traces(df: pl.DataFrame) -> pl.DataFrame:
    keys = [c for c in ("model", "sample", "row") if c in df.columns]
    return df.sort(keys, nulls_last=True) if keys else df


def pick(traces: list[dict], sample: int | None, model: str | None) -> int:
    """Index of the trace `?sample=K&model=M` names: the first match, the first trace when nothing matches."""
    for i, t in enumerate(traces):
        if (sample is None or t.get("sample") == sample) and (model is None or t.get("model") == model):
            return i
    return 0


def word_diff(before: str, after: str) -> list[tuple[str, str]] | None:
    """(op, text) pieces, op in same/del/add, of a word diff; None when the texts are too long to diff."""
    a, b = re.findall(r"\S+\s*", before), re.findall(r"\S+\s*", after)
    if len(a) + len(b) > MAX_DIFF_WORDS:
        return None
    out: list[tuple[str, str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(("same", "".join(a[i1:i2])))
            continue
        if i2 > i1:
            out.append(("del", "".join(a[i1:i2])))
        if j2 > j1:
            out.append(("add", "".join(b[j1:j2])))
    return out


def diff_stats(pieces: list[tuple[str, str]]) -> dict[str, int]:
    words = {op: 0 for op in ("same", "del", "add")}
    for op, text in pieces:
        words[op] += len(text.split())
    return words


def removals(side: pl.DataFrame, kind: str, stage: str, prompt_id: str) -> list[Removal]:
    """The side-file records of one prompt, each with the cluster it was removed from (duplicates only)."""
    if side.is_empty() or "id" not in side.columns:
        return []
    mine = side.filter(pl.col("id") == prompt_id)
    out = []
    for record in mine.to_dicts():
        cluster: list[dict] = []
        if kind == "duplicates" and record.get("kept_row") is not None and "kept_row" in side.columns:
            cluster = side.filter(pl.col("kept_row") == record["kept_row"]).to_dicts()
        out.append(Removal(stage, kind, record, cluster))
    return out


def removal_text(r: Removal) -> str:
    rec = r.record
    if r.kind == "contamination":
        return (f"removed by {r.stage} as contamination: matches {rec.get('benchmark')} item "
                f"{rec.get('bench_index')} ({rec.get('match')}, {rec.get('shared_ngrams')} shared n-grams)")
    sim = rec.get("similarity")
    return (f"removed by {r.stage} as a {rec.get('kind')} duplicate"
            f"{'' if sim is None else f' (similarity {float(sim):.2f})'} of prompt {rec.get('kept_id')} "
            f"(row {rec.get('kept_row')}, kept)")


def matches(r: Removal, trace: dict) -> bool:
    """Does this side-file record name this trace (same model and sample when the record has them)?"""
    rec = r.record
    return all(rec.get(k) is None or trace.get(k) is None or rec.get(k) == trace.get(k) for k in ("model", "sample"))
