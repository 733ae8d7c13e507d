"""Benchmark `distill filter`: throughput against a plain Python loop of the same checks, and peak RSS.

Synthetic R1-style traces of ~2,000 words, built from sentences of the bundled MATH-500 solutions (English prose
and LaTeX) in paragraphs of 3-6 sentences, each ending in a boxed answer; 5% carry a planted defect (a loop, a
switch to Chinese, an unclosed thinking block). distill runs as the real command (`python -m distill_cli
filter`, default checks, default 20,000-row shards, so from 20,000 traces on its peak RSS is that of a full
shard whatever the total); the baseline is a per-row Python loop of the same checks and thresholds (the same
20-gram repetition measures, script share, fastText language windows with the same English fast path, boxed
answers, refusal regexes), reading and writing Parquet as distill does, over the first traces (a loop over a
million would take an hour). Both run as child processes; the target ratio compares traces per wall second, and
traces per CPU second are printed beside it, since on a shared machine wall time also measures the neighbours.
Both must drop the same rows of the subsample. First, a per-check profile of filter's core says where its time
goes.

    python scripts/bench_filter.py                         # 1M traces for distill, 10k for the loop
    python scripts/bench_filter.py --rows 100000 --baseline-rows 2000 --data-dir /tmp/bench-filter
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchutil import table  # noqa: E402

WORDS = 2000
CHINESE = "等等，让我重新检查一下这个计算。我们需要仔细考虑每一个步骤，确保没有遗漏任何条件。" * 4


def make_data(path: Path, rows: int, seed: int = 0) -> None:
    """rows traces written in pieces of 10,000, so making a million needs little memory; each piece's sentence
    picks and paragraph lengths are drawn as arrays, leaving Python only the joins."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from distill_cli.answers import last_boxed

    bench = Path(__file__).resolve().parents[1] / "distill_cli" / "benchmarks" / "math500_test.jsonl"
    items = [json.loads(line) for line in bench.read_text().splitlines()]
    answers = [last_boxed(it["solution"]) or it["answer"] for it in items]
    pool = [s.strip() + "." for it in items for s in re.sub(r"\\boxed\{", "{", it["solution"])
            .replace("\n", " ").split(". ") if len(s.split()) >= 4]
    lengths = np.array([len(s.split()) for s in pool])
    picks_per_row = 2 * WORDS // int(lengths.mean())
    rng = np.random.default_rng(seed)
    writer = None
    for start in range(0, rows, 10_000):
        n = min(10_000, rows - start)
        picks = rng.integers(0, len(pool), (n, picks_per_row))
        cuts = (np.cumsum(lengths[picks], axis=1) < WORDS).sum(axis=1) + 1  # sentences until ~WORDS words
        steps = rng.integers(3, 7, (n, picks_per_row)).tolist()
        batch: dict[str, list] = {k: [] for k in ("id", "prompt", "model", "completion", "reasoning", "response",
                                                  "finish_reason")}
        for j, (row_picks, cut, step) in enumerate(zip(picks.tolist(), cuts.tolist(), steps, strict=True)):
            i = start + j
            chosen = [pool[p] for p in row_picks[:cut]]
            paras, k, m = [], 0, 0
            while k < len(chosen):
                paras.append(" ".join(chosen[k:k + step[m]]))
                k, m = k + step[m], m + 1
            paras.append(f"So the answer is {answers[i % len(items)]}.")
            kind = i % 20  # 5% defective: one in 60 of each kind
            if kind == 0 and i % 60 == 0:
                paras = paras[:5] + [paras[5]] * 12 + paras[5:]
            elif kind == 0 and i % 60 == 20:
                paras = paras[: len(paras) // 2] + [CHINESE] * 3 + paras[len(paras) // 2:]
            reasoning = "\n\n".join(paras)
            response = f"The final answer is $\\boxed{{{answers[i % len(items)]}}}$."
            unclosed = kind == 0 and i % 60 == 40
            batch["id"].append(f"p{i}")
            batch["prompt"].append(items[i % len(items)]["problem"])
            batch["model"].append("r1-style")
            batch["completion"].append(f"<think>\n{reasoning}" + ("" if unclosed else f"\n</think>\n\n{response}"))
            batch["reasoning"].append(reasoning)
            batch["response"].append("" if unclosed else response)
            batch["finish_reason"].append("stop")
        table_ = pa.table(batch)
        writer = writer or pq.ParquetWriter(path, table_.schema, compression="zstd")
        writer.write_table(table_)
    writer.close()


# ---------------------------------------------------------------- the plain Python loop of the same checks

def python_loop(data: Path, limit: int, out: Path) -> None:
    import numpy as np
    import polars as pl

    from distill_cli.answers import boxed_spans
    from distill_cli.stages.filter import DEFAULT_REFUSALS, FilterConfig
    from distill_cli.stages.filter.language import (
        ENGLISH,
        ENGLISH_WORDS,
        MIN_CONFIDENCE,
        MIN_WINDOW_LETTERS,
        WINDOW_CHARS,
        identify,
    )

    cfg = FilterConfig()
    df = pl.read_parquet(data, n_rows=limit)
    refusal = re.compile("|".join(f"(?:{p})" for p in DEFAULT_REFUSALS), re.I)
    letter = re.compile(r"[^\W\d_]")
    # letters outside Latin and Greek (the script of these English prompts): Python's re has no \p{Script}
    foreign = re.compile(r"[^\W\d_A-Za-z\u00C0-\u024F\u1E00-\u1EFF\u0370-\u03FF]+")
    english = re.compile(ENGLISH[4:], re.I)
    math = re.compile(r"\$\$.*?\$\$|\$[^$]*\$|\\\[.*?\\\]|\\\(.*?\\\)|\\[A-Za-z]+|\{|\}|\^|_", re.S)
    space = re.compile(r"\s+")
    prompt_lang: dict[str, str | None] = {}
    dropped = []

    def clean(text: str) -> str:
        return space.sub(" ", math.sub(" ", text)).strip()

    def norm(answer: str) -> str:
        answer = re.sub(r"\s+|\\left|\\right|\\[,;:! ]|\$|\\displaystyle", "", answer)
        answer = re.sub(r"\\(?:text|textbf|mathrm|mbox)\{([^{}]*)\}", r"\1", re.sub(r"\\[dt]frac", r"\\frac", answer))
        return re.sub(r"\^\{?\\circ\}?|°", "", answer).rstrip(".")

    for row, r in enumerate(df.iter_rows(named=True)):
        reasoning, response = r["reasoning"] or "", r["response"] or ""
        reasons = []
        if r["finish_reason"] == "length":
            reasons.append("truncated")
        if r["reasoning"] is not None and "</think>" not in (r["completion"] or ""):
            reasons.append("think_unclosed")
        if not response.strip():
            reasons.append("empty_answer")
        words = (r["completion"] or "").split()
        seen: set = set()
        repeats = run = longest = 0
        for i in range(len(words) - cfg.ngram + 1):
            gram = tuple(words[i:i + cfg.ngram])
            if gram in seen:
                repeats += 1
                run += 1
                longest = max(longest, run)
            else:
                seen.add(gram)
                run = 0
        total = max(len(words) - cfg.ngram + 1, 0)
        if total and repeats / total > cfg.max_repeated_share:
            reasons.append("repetition")
        if longest and longest + cfg.ngram - 1 > cfg.max_repeated_span:
            reasons.append("repeated_span")
        foreign_letters = sum(len(run) for run in foreign.findall(reasoning))
        if reasoning and foreign_letters / len(reasoning) > cfg.max_foreign_script:
            reasons.append("foreign_script")
        prompt = clean(r["prompt"])
        if prompt not in prompt_lang:
            lang, conf = identify(prompt) if len(prompt) >= MIN_WINDOW_LETTERS else ("", 0.0)
            prompt_lang[prompt] = lang if conf >= MIN_CONFIDENCE else None
        expected = prompt_lang[prompt]
        if expected:
            k = cfg.language_windows
            starts = [j * len(reasoning) // k for j in range(k)]
            wins = [clean(reasoning[s:s + 3 * WINDOW_CHARS])[:WINDOW_CHARS] for s in starts]
            wins = [w for w in wins if len(letter.findall(w)) >= MIN_WINDOW_LETTERS]
            judged = []
            for w in wins:
                if expected == "en" and len(english.findall(w)) >= ENGLISH_WORDS:
                    judged.append(False)
                    continue
                lang, conf = identify(w)
                if conf >= MIN_CONFIDENCE:
                    judged.append(lang != expected)
            if judged and sum(judged) / len(judged) > cfg.max_foreign_language:
                reasons.append("foreign_language")
        boxed = [norm(b) for b in boxed_spans(response)]
        if len(set(boxed)) > 1:
            reasons.append("answers_disagree")
        if boxed and boxed[-1] and boxed[-1] not in norm(reasoning):
            reasons.append("answer_unsupported")
        if refusal.search(reasoning + "\n" + response):
            reasons.append("refusal")
        if reasons:
            dropped.append(row)
    # like distill, write the kept traces and the dropped rows' list
    df.filter(~pl.Series(np.isin(np.arange(df.height), dropped))).write_parquet(out.with_suffix(".parquet"),
                                                                               compression="zstd")
    out.write_text(json.dumps(dropped))


# ---------------------------------------------------------------- where distill's time goes

def profile(data: Path, rows: int) -> list[tuple]:
    """CPU seconds per 1,000 traces of each measure of filter's core, in this process, on the first rows."""
    import polars as pl

    from distill_cli.stages.filter import FilterConfig, filter_frame
    from distill_cli.stages.filter.core import failures
    from distill_cli.stages.filter.language import foreign_language_share, foreign_script_share, identify
    from distill_cli.stages.filter.repetition import repetition

    df = pl.read_parquet(data, n_rows=rows)
    identify("warm the model up")
    cfg = FilterConfig()
    none = pl.DataFrame({c: pl.Series([None] * df.height, dtype=pl.Float64) for c in
                         ("repeated_share", "repeated_span", "foreign_script", "foreign_language", "perplexity")})
    parts = {"repetition (word 20-grams of the completion)": lambda: repetition(df["completion"], cfg.ngram),
             "language windows + fastText": lambda: foreign_language_share(df, cfg.language_windows),
             "foreign script share": lambda: foreign_script_share(df),
             "expression checks (think, answers, refusals)": lambda: failures(df, none, cfg),
             "whole core (filter_frame)": lambda: filter_frame(df, cfg)}
    out = []
    for name, run in parts.items():
        started = time.process_time()
        run()
        out.append((name, f"{(time.process_time() - started) * 1000 / rows:.3f}"))
    return out


# ---------------------------------------------------------------- driver

def measured(argv: list[str]) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, peak RSS MiB) of a child process run to completion."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv)
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"benchmark command failed: {' '.join(argv)}")
    return time.perf_counter() - started, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000, help="traces for distill")
    ap.add_argument("--baseline-rows", type=int, default=10_000, help="traces for the Python loop (a prefix)")
    ap.add_argument("--profile-rows", type=int, default=2_000, help="traces for the per-check profile")
    ap.add_argument("--data-dir", type=Path, help="keep the generated traces here and reuse them on a re-run")
    ap.add_argument("--worker", choices=["loop", "data", "profile"], help=argparse.SUPPRESS)
    ap.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker == "loop":
        python_loop(args.data, args.baseline_rows, args.out)
        return
    if args.worker == "data":
        make_data(args.data, args.rows)
        return
    if args.worker == "profile":
        print(table(profile(args.data, args.profile_rows), ("check", "CPU ms per trace")), flush=True)
        return
    # every piece of work runs in a child, so no child starts as a fork of a big parent (its peak RSS would count
    # the parent's pages)
    me = [sys.executable, __file__, "--rows", str(args.rows), "--profile-rows", str(args.profile_rows)]
    with tempfile.TemporaryDirectory(prefix="bench-filter-") as tmp:
        root = Path(tmp)
        data = (args.data_dir or root) / f"traces-{args.rows}.parquet"
        started = time.perf_counter()
        if not data.exists():
            data.parent.mkdir(parents=True, exist_ok=True)
            measured([*me, "--worker", "data", "--data", str(data.with_suffix(".tmp"))])
            data.with_suffix(".tmp").rename(data)
        print(f"data: {args.rows:,} traces of ~{WORDS} words, {data.stat().st_size / 2**20:,.0f} MiB Parquet "
              f"({time.perf_counter() - started:.0f} s to make or find)", flush=True)
        measured([*me, "--worker", "profile", "--data", str(data)])
        cli = [sys.executable, "-m", "distill_cli", "filter"]
        sub = measured([*cli, str(data), "-o", str(root / "sub"), "-q", "--limit", str(args.baseline_rows)])
        loop = measured([sys.executable, __file__, "--worker", "loop", "--data", str(data),
                         "--baseline-rows", str(args.baseline_rows), "--out", str(root / "loop.json")])
        full = measured([*cli, str(data), "-o", str(root / "all"), "-q"])
        import polars as pl

        ours = sorted(pl.read_parquet(root / "sub" / "_filtered.parquet")["row"].to_list())
        theirs = json.loads((root / "loop.json").read_text())
        stats = json.loads((root / "all" / "_stats.json").read_text())
        rows = [(name, f"{n:,}", f"{wall:.1f}", f"{n / wall:,.0f}", f"{cpu:.1f}", f"{n / cpu:,.0f}", f"{rss:,.0f}")
                for name, n, (wall, cpu, rss) in (("distill filter", args.rows, full),
                                                  ("distill filter", args.baseline_rows, sub),
                                                  ("python loop", args.baseline_rows, loop))]
        print(table(rows, ("method", "traces", "wall s", "traces/s", "CPU s", "traces/CPU s", "peak RSS MiB")))
        rate = args.rows / full[0]
        print(f"speed-up, traces/s: distill on {args.rows:,} vs the loop on {args.baseline_rows:,}: "
              f"{rate / (args.baseline_rows / loop[0]):.1f}x (target >= 10x); on the same {args.baseline_rows:,}: "
              f"{loop[0] / sub[0]:.1f}x; per CPU second: {(args.rows / full[1]) / (args.baseline_rows / loop[1]):.1f}x")
        print(f"peak RSS of distill on {args.rows:,}: {full[2] / 1024:.2f} GiB (target < 4 GiB)")
        print(f"dropped: {stats.get('dropped')}; on the first {args.baseline_rows:,}: distill {len(ours)}, "
              f"loop {len(theirs)}, same rows: {ours == theirs}")


if __name__ == "__main__":
    main()
