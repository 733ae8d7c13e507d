"""Consensus labels for prompts without a reference answer (OpenMathReasoning's majority-vote pseudo-labels).

A prompt's samples are clustered by math-verify equivalence of their final answers ("1/2", "0.5" and
"\\frac{1}{2}" are one answer); when the largest cluster holds at least `share` of the prompt's samples and at
least `min_samples` of them, its most frequent spelling becomes the prompt's pseudo-reference (`consensus_answer`,
`answer_source: consensus`, `consensus_share`), and every sample is then judged against it like a reference. A
prompt below the bar has no label: its samples stay `unverifiable` (reason `no_consensus`). Rows that carry a
reference answer keep it (`answer_source: reference`) and are never voted on.

Equivalence checks are verify items (the candidate against another as its reference), so they run in the same
killable workers with the same time bounds as every other math check. All samples of a prompt must be in one frame:
the command refuses a sharding that splits a prompt.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

import polars as pl

from distill_cli.stages.verify.extract import final_response, numeric_candidate, strip_math

COLUMNS = {"consensus_answer": pl.String, "consensus_share": pl.Float64, "answer_source": pl.String}


@dataclass(frozen=True)
class ConsensusConfig:
    share: float
    min_samples: int = 4


def _has_reference(answer) -> bool:
    return answer is not None and bool(str(answer).strip())


def candidate(response: str | None, finish_reason: str | None = None) -> str | None:
    """A sample's final answer for voting: the last boxed value, an 'answer is' line, or the last number; a
    response cut off by the token limit votes only with a boxed or 'answer is' answer, as verify judges it (its last
    number is wherever the text stopped: real cut-off samples made false majorities out of such numbers)."""
    text = final_response(response)
    found = numeric_candidate(text, anchored_only=finish_reason == "length") if text else None
    return strip_math(found) or None if found else None


def _clusters(keys: list[str], same: set[tuple[str, str]]) -> dict[str, str]:
    """Union-find over a prompt's distinct answers: each answer's cluster root."""
    root = {k: k for k in keys}

    def find(k: str) -> str:
        while root[k] != k:
            root[k] = root[root[k]]
            k = root[k]
        return k

    for a, b in same:
        if a in root and b in root:  # `same` holds every prompt's pairs
            root[find(a)] = find(b)
    return {k: find(k) for k in keys}


def equivalence_pairs(by_prompt: dict[str, list[str | None]]) -> list[tuple[str, str]]:
    """Every pair of distinct answers within one prompt: what the workers must compare."""
    pairs = set()
    for answers in by_prompt.values():
        distinct = sorted({a for a in answers if a})
        pairs.update((a, b) for i, a in enumerate(distinct) for b in distinct[i + 1:])
    return sorted(pairs)


def decide(answers: list[str | None], same: set[tuple[str, str]], cfg: ConsensusConfig) -> tuple[str | None, float]:
    """(pseudo-reference or None, share of the prompt's samples in the largest cluster)."""
    present = [a for a in answers if a]
    if not present:
        return None, 0.0
    roots = _clusters(sorted(set(present)), same)
    sizes = Counter(roots[a] for a in present)
    ranked = sizes.most_common()
    top, size = ranked[0]
    share = size / len(answers)
    if len(ranked) > 1 and ranked[1][1] == size:  # a tie has no majority
        return None, share
    if share < cfg.share or size < cfg.min_samples:
        return None, share
    spelling = Counter(a for a in present if roots[a] == top).most_common(1)[0][0]
    return spelling, share


def label(df: pl.DataFrame, cfg: ConsensusConfig, compare) -> pl.DataFrame:
    """Add consensus_answer, consensus_share and answer_source; `compare(pairs) -> set of equivalent pairs`."""
    ids = df.get_column("id").cast(pl.String).to_list()
    refs = df.get_column("answer").cast(pl.String).to_list() if "answer" in df.columns else [None] * df.height
    domains = df.get_column("domain").cast(pl.String).to_list() if "domain" in df.columns else [None] * df.height
    voters = [not _has_reference(r) and d not in ("code", "choice") for r, d in zip(refs, domains, strict=True)]
    finish = df.get_column("finish_reason").cast(pl.String).to_list() if "finish_reason" in df.columns else \
        [None] * df.height
    answers = [candidate(r, f) if v else None for r, f, v in zip(df.get_column("response").to_list(), finish, voters,
                                                                 strict=True)]
    by_prompt: dict[str, list[str | None]] = defaultdict(list)
    for i, v in enumerate(voters):
        if v:
            by_prompt[ids[i]].append(answers[i])
    same = compare(equivalence_pairs(by_prompt))
    decided = {pid: decide(a, same, cfg) for pid, a in by_prompt.items()}
    label_col = [decided[ids[i]][0] if v else None for i, v in enumerate(voters)]
    share_col = [decided[ids[i]][1] if v else None for i, v in enumerate(voters)]
    source = ["reference" if not v else "consensus" if lab else None for v, lab in zip(voters, label_col,
                                                                                       strict=True)]
    return df.with_columns(pl.Series("consensus_answer", label_col, pl.String),
                           pl.Series("consensus_share", share_col, pl.Float64),
                           pl.Series("answer_source", source, pl.String))


def pool_compare(pool):
    """`compare` for `label` that asks the verify pool whether b, as a reference, accepts a."""
    from distill_cli.stages.verify.pool import Item

    def compare(pairs: list[tuple[str, str]]) -> set[tuple[str, str]]:
        if not pairs:
            return set()
        items = [Item(i, f"\\boxed{{{a}}}", b, "math") for i, (a, b) in enumerate(pairs)]
        same: set[tuple[str, str]] = set()

        def on_result(index: int, verdict) -> None:
            if verdict.verdict == "correct":
                same.add(pairs[index])

        pool.run(items, on_result)
        return same

    return compare


def split_prompts(ids_per_shard: list[list[str]]) -> tuple[str, int, int] | None:
    """The first prompt id found in two shards (id, first shard, second shard), else None."""
    seen: dict[str, int] = {}
    for shard, ids in enumerate(ids_per_shard):
        for pid in set(ids):
            if pid in seen:
                return pid, seen[pid], shard
            seen[pid] = shard
    return None
