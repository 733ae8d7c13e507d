"""compress_frame: run the chosen strategies in order over a frame of traces, re-verifying every cut.

Re-verification rule (docs/stages/compress.md): the verdict comes from the response, which compress never
changes, so what a cut can break is the reasoning's conclusion. After each strategy that changes a trace, the
answer the new reasoning concludes with (text.conclusion) is checked against the reference answer with the
verifier. The cut fails when the reasoning concluded correctly before it and does not after it; a rewrite must
conclude correctly, whatever the original did. Rows of domains without a final answer (code, text) pass.
A failed cut is undone (`reverted:<strategy>` in `compression`, and the chain goes on) or the row is dropped.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import polars as pl

from distill_cli.answers import last_boxed
from distill_cli.stages.compress.budget import count_tokens
from distill_cli.stages.compress.config import CompressConfig
from distill_cli.stages.compress.first_correct import ANSWER_DOMAINS, first_correct
from distill_cli.stages.compress.reflections import dedupe_reflections
from distill_cli.stages.compress.rewrite import Rewriter, make_job, parse_output
from distill_cli.stages.compress.text import conclusion, join, paragraphs, rebuild_completion
from distill_cli.stages.compress.trim import Equal, trim

NEEDED = ("reasoning", "response", "answer", "verdict", "domain")
OPTIONAL = ("completion", "completion_tokens", "extracted", "prompt", "difficulty", "id", "sample",
            "reasoning_original", "compression")


@dataclass
class _State:
    """The traces as they are after the strategies run so far."""

    cols: dict[str, list]
    cur: list[str | None]
    eligible: list[bool]
    alive: list[bool]
    labels: list[list[str]]
    ok: list[bool | None]  # does the current reasoning conclude with the reference answer (None: not asked yet)
    tokens: list[int | None]
    over: list[bool | None]
    stats: dict = field(default_factory=dict)
    spacing: set[int] = field(default_factory=set)  # rows a strategy would only have re-spaced

    def todo(self) -> list[int]:
        return [i for i, (e, a) in enumerate(zip(self.eligible, self.alive, strict=False)) if e and a]

    def count(self, *path: str, n: int = 1) -> None:
        node = self.stats
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = node.get(path[-1], 0) + n


def _columns(df: pl.DataFrame) -> dict[str, list]:
    return {c: (df[c].to_list() if c in df.columns else [None] * df.height) for c in NEEDED + OPTIONAL}


def final_answer(extracted: str | None, response: str | None) -> str | None:
    """The answer the response gives: verify's extraction, else its last boxed or stated answer."""
    return extracted or last_boxed(response) or conclusion(response)


def _run_text(step: str, st: _State, idx: list[int], cfg: CompressConfig, equal: Equal,
              rewriter: Rewriter | None) -> list[str | None]:
    c = st.cols
    if step == "trim":
        rows = [(st.cur[i], final_answer(c["extracted"][i], c["response"][i]), c["domain"][i]) for i in idx]
        return list(trim(rows, cfg.allowance, equal))
    if step == "dedupe-reflections":
        return [dedupe_reflections(st.cur[i], cfg.max_reflections, cfg.near_threshold) for i in idx]
    if step == "first-correct":
        return first_correct([(st.cur[i], c["answer"][i], c["domain"][i]) for i in idx], cfg.extra_steps, equal)
    return _run_rewrite(st, idx, cfg, rewriter)


def _run_rewrite(st: _State, idx: list[int], cfg: CompressConfig, rewriter: Rewriter | None) -> list[str | None]:
    if rewriter is None:
        raise ValueError("the rewrite strategy needs a rewriter (a generate backend)")
    rows = [{k: st.cols[k][i] for k in ("id", "sample", "prompt", "answer", "difficulty")} for i in idx]
    jobs = [make_job(row, st.cur[i], cfg.rewrite) for row, i in zip(rows, idx, strict=False)]
    outcomes = rewriter(jobs) if jobs else {}
    out: list[str | None] = []
    for job in jobs:
        text, failure = parse_output(outcomes.get(job.key))
        if failure:
            st.count("strategies", "rewrite", "failed", failure)
        out.append(join(paragraphs(text)) if text else None)
    return out


def _reverify(step: str, st: _State, changed: list[tuple[int, str]], equal: Equal) -> set[int]:
    """Rows among `changed` whose cut broke the reasoning's conclusion (see the module docstring)."""
    c = st.cols
    checked = [(i, t) for i, t in changed if c["domain"][i] in ANSWER_DOMAINS and c["answer"][i]]
    before = [i for i, _ in checked if st.ok[i] is None]
    items = [(conclusion(st.cur[i]), c["answer"][i], c["domain"][i]) for i in before]
    items += [(conclusion(t), c["answer"][i], c["domain"][i]) for i, t in checked]
    flags = equal(items)
    for i, flag in zip(before, flags, strict=False):
        st.ok[i] = flag
    failed = set()
    for (i, _), after in zip(checked, flags[len(before):], strict=False):
        if (st.ok[i] or step == "rewrite") and not after:
            failed.add(i)
        else:
            st.ok[i] = after
    st.count("reverify", "checked", n=len(checked))
    st.count("reverify", "skipped_no_answer_domain", n=len(changed) - len(checked))
    return failed


def _apply_text(step: str, st: _State, cfg: CompressConfig, equal: Equal, rewriter: Rewriter | None) -> None:
    idx = st.todo()
    new = _run_text(step, st, idx, cfg, equal, rewriter)
    changed = [(i, t) for i, t in zip(idx, new, strict=False) if t is not None and t != st.cur[i]]
    # a candidate with the same words (a trailing newline, folded blank lines) shortens nothing: the row keeps
    # its text and the normalisation is counted apart from the cuts
    spacing = {i for i, t in changed if t.split() == (st.cur[i] or "").split()}
    changed = [(i, t) for i, t in changed if i not in spacing]
    failed = _reverify(step, st, changed, equal) if cfg.reverify else set()
    st.count("strategies", step, "changed", n=len(changed) - len(failed))
    st.count("strategies", step, "unchanged", n=len(idx) - len(changed) - len(spacing))
    if spacing:
        st.count("strategies", step, "whitespace_only", n=len(spacing))
        st.spacing |= spacing
    for i, text in changed:
        if i not in failed:
            st.cur[i] = text
            st.labels[i].append(step)
        elif cfg.on_fail == "revert":
            st.labels[i].append(f"reverted:{step}")
            st.count("strategies", step, "reverted")
            st.count("reverted", step)
        else:
            st.alive[i] = False
            st.count("strategies", step, "dropped")
            st.count("dropped", f"reverify_failed:{step}")


def _apply_budget(st: _State, cfg: CompressConfig) -> None:
    """Every row still kept is measured, whatever its verdict or reasoning: a budget bounds what a trainer reads,
    and a non-thinking teacher's long response is as much over it as a long reasoning."""
    idx = [i for i, alive in enumerate(st.alive) if alive]
    c = st.cols
    texts = [_completion(st, i) for i in idx]
    counts = count_tokens(texts, [c["completion"][i] for i in idx], [c["completion_tokens"][i] for i in idx],
                          cfg.tokenizer)
    st.stats["token_counter"] = "tokenizer" if cfg.tokenizer else "estimate"
    for i, n in zip(idx, counts, strict=False):
        st.tokens[i], st.over[i] = n, n > (cfg.budget or 0)
        if not st.over[i]:
            continue
        st.count("strategies", "max-tokens", "over_budget")
        if not cfg.mark:
            st.alive[i] = False
            st.count("dropped", "over_budget")


def _completion(st: _State, i: int) -> str:
    c = st.cols
    if not st.labels[i] or all(label.startswith("reverted:") for label in st.labels[i]):
        return c["completion"][i] or rebuild_completion(None, None, st.cur[i] or "", c["response"][i])
    return rebuild_completion(c["completion"][i], c["reasoning"][i], st.cur[i] or "", c["response"][i])


def _words(text: str | None) -> int:
    return len(text.split()) if text else 0


def _label(previous: str | None, labels: list[str]) -> str:
    label = "+".join(labels) or "none"
    if previous and previous != "none":
        return previous if label == "none" else f"{previous}+{label}"
    return label


def compress_frame(df: pl.DataFrame, cfg: CompressConfig, equal: Equal | None = None,
                   rewriter: Rewriter | None = None) -> tuple[pl.DataFrame, dict]:
    """Compress the traces of `df` with `cfg.strategies`, in order; returns (rows kept, stats).

    `equal` compares answers (default: the verify stage's verifier); `rewriter` runs rewrite prompts through a
    generate backend (needed only for the rewrite strategy).
    """
    if equal is None:
        from distill_cli.stages.compress.check import VerifierEqual

        with VerifierEqual() as own:
            return compress_frame(df, cfg, own, rewriter)
    n = df.height
    cols = _columns(df)
    pairs = zip(cols["reasoning"], cols["verdict"], strict=True)
    eligible = [bool(r) and (cfg.all_rows or v == "correct") for r, v in pairs]
    st = _State(cols, list(cols["reasoning"]), eligible, [True] * n, [[] for _ in range(n)], [None] * n,
                [None] * n, [None] * n)
    st.stats["eligible"] = sum(eligible)
    for i in range(n):
        if not eligible[i]:
            st.count("passthrough", "no_reasoning" if not cols["reasoning"][i] else str(cols["verdict"][i]))
    for step in cfg.strategies:
        if step == "max-tokens":
            _apply_budget(st, cfg)
        else:
            _apply_text(step, st, cfg, equal, rewriter)
    return _output(df, st, cfg)


def _changed(name: str, values: list[str | None], changed: list[bool], unchanged: pl.Expr) -> pl.Expr:
    """`values` where `changed`, else the input column as it is: the texts compress left alone are not copied
    into new strings (three columns of 8 KB traces: 2.4 GB for a shard of 100k rows, most of them unchanged)."""
    new = pl.Series(name, [v if ch else None for v, ch in zip(values, changed, strict=True)], pl.String)
    return pl.when(pl.Series(changed, dtype=pl.Boolean)).then(new).otherwise(unchanged.cast(pl.String)).alias(name)


def _output(df: pl.DataFrame, st: _State, cfg: CompressConfig) -> tuple[pl.DataFrame, dict]:
    c = st.cols
    n = df.height
    originals = [o if o is not None else r for o, r in zip(c["reasoning_original"], c["reasoning"], strict=False)]
    rebuilt = [st.eligible[i] and bool(st.labels[i]) for i in range(n)]
    completions = [_completion(st, i) if rebuilt[i] else None for i in range(n)]
    ratios = [len(st.cur[i] or "") / len(originals[i]) if originals[i] else 1.0 for i in range(n)]
    original = pl.col("reasoning").cast(pl.String)
    if "reasoning_original" in df.columns:
        original = pl.coalesce(pl.col("reasoning_original").cast(pl.String), original)
    out = df.with_columns(
        _changed("reasoning", st.cur, [a != b for a, b in zip(st.cur, c["reasoning"], strict=True)],
                 pl.col("reasoning")),
        _changed("completion", completions, rebuilt,
                 pl.col("completion") if "completion" in df.columns else pl.lit(None, pl.String)),
        original.alias("reasoning_original"),
        pl.Series("compression", [_label(c["compression"][i], st.labels[i]) for i in range(n)], pl.String),
        pl.Series("compression_ratio", ratios, pl.Float64),
    )
    if "max-tokens" in cfg.strategies:
        out = out.with_columns(pl.Series("trace_tokens", st.tokens, pl.Int64),
                               pl.Series("over_budget", st.over, pl.Boolean))
    out = out.filter(pl.Series(st.alive, dtype=pl.Boolean))
    kept = [i for i in range(n) if st.alive[i] and st.eligible[i]]
    st.stats["compressed"] = sum(1 for i in kept if any(not x.startswith("reverted:") for x in st.labels[i]))
    # an unchanged trace is not shorter: only changed ones are split into words (0.1 ms for 8 KB)
    st.stats["shortened"] = sum(1 for i in kept if st.cur[i] != originals[i]
                                and _words(st.cur[i]) < _words(originals[i]))
    spacing = sum(1 for i in kept if i in st.spacing and not st.labels[i])
    if spacing:
        st.stats["whitespace_only"] = spacing  # rows left as they were, that a strategy would only have re-spaced
    st.stats["chars_before"] = sum(len(c["reasoning"][i] or "") for i in kept)
    st.stats["chars_after"] = sum(len(st.cur[i] or "") for i in kept)
    st.stats["labels"] = dict(Counter(out["compression"].to_list()))
    return out, st.stats
