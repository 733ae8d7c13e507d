"""Benchmark `distill filter`: throughput against a plain Python loop of the same checks, and peak RSS.

Synthetic R1-style traces of ~2,000 words, built from sentences of the bundled MATH-500 solutions (English prose
and LaTeX) in paragraphs of 3-6 sentences, each ending in a boxed answer; 5% carry a planted defect (a loop, a
switch to Chinese, an unclosed thinking block). distill runs as the real command (`python -m distill_cli
filter`, default checks, default 20,000-row shards, so from 20,000 traces on its peak RSS is that of a full
shard whatever the total); the baseline is a per-row Python loop of the same checks and thresholds (the same
20-gram repetition measures, script share, fastText language windows with the same English fast path, boxed
answers, refusal regexes), reading and writing Parquet as distill does, over a subsample. Both run as child
processes; the ratio compares traces per second. Both must drop the same rows of the subsample.

    python scripts/bench_filter.py                         # 1M traces for distill, 20k for the loop
    python scripts/bench_filter.py --rows 100000 --baseline-rows 2000
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchutil import run_measured, table  # noqa: E402

WORDS = 2000
CHINESE = "等等，让我重新检查一下这个计算。我们需要仔细考虑每一个步骤，确保没有遗漏任何条件。" * 4


def make_data(path: Path, rows: int, seed: int = 0) -> None:
    """rows traces written in pieces of 10,000, so making a million needs little memory."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from distill_cli.answers import last_boxed

    bench = Path(__file__).resolve().parents[1] / "distill_cli" / "benchmarks" / "math500_test.jsonl"
    items = [json.loads(line) for line in bench.read_text().splitlines()]
    sentences = np.array([s.strip() + "." for it in items for s in re.sub(r"\\boxed\{", "{", it["solution"])
                          .replace("\n", " ").split(". ") if len(s.split()) >= 4])
    lengths = np.array([len(s.split()) for s in sentences])
    rng = np.random.default_rng(seed)
    writer = None
    for start in range(0, rows, 10_000):
        n = min(10_000, rows - start)
        batch: dict[str, list] = {k: [] for k in ("id", "prompt", "model", "completion", "reasoning", "response",
                                                  "finish_reason")}
        for i in range(start, start + n):
            item = items[i % len(items)]
            picks = rng.integers(0, len(sentences), 2 * WORDS // int(lengths.mean()))
            cut = np.searchsorted(np.cumsum(lengths[picks]), WORDS)
            chosen = sentences[picks[: cut + 1]].tolist()
            paras, k = [], 0
            while k < len(chosen):
                step = int(rng.integers(3, 7))
                paras.append(" ".join(chosen[k:k + step]))
                k += step
            answer = last_boxed(item["solution"]) or item["answer"]
            paras.append(f"So the answer is {answer}.")
            kind = i % 20  # 5% defective: one in 60 of each kind
            if kind == 0 and i % 60 == 0:
                paras = paras[:5] + [paras[5]] * 12 + paras[5:]
            elif kind == 0 and i % 60 == 20:
                paras = paras[: len(paras) // 2] + [CHINESE] * 3 + paras[len(paras) // 2:]
            reasoning = "\n\n".join(paras)
            response = f"The final answer is $\\boxed{{{answer}}}$."
            unclosed = kind == 0 and i % 60 == 40
            batch["id"].append(f"p{i}")
            batch["prompt"].append(item["problem"])
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


# ---------------------------------------------------------------- driver

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000, help="traces for distill")
    ap.add_argument("--baseline-rows", type=int, default=20_000, help="traces for the Python loop")
    ap.add_argument("--worker", choices=["loop"], help=argparse.SUPPRESS)
    ap.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker == "loop":
        python_loop(args.data, args.baseline_rows, args.out)
        return
    with tempfile.TemporaryDirectory(prefix="bench-filter-") as tmp:
        root = Path(tmp)
        data = root / "traces.parquet"
        started = time.perf_counter()
        make_data(data, args.rows)
        print(f"data: {args.rows:,} traces of ~{WORDS} words, {data.stat().st_size / 2**20:.0f} MiB Parquet, "
              f"made in {time.perf_counter() - started:.0f} s", flush=True)
        cli = [sys.executable, "-m", "distill_cli", "filter"]
        wall, rss = run_measured([*cli, str(data), "-o", str(root / "all"), "-q"])
        sub_wall, sub_rss = run_measured([*cli, str(data), "-o", str(root / "sub"), "-q",
                                          "--limit", str(args.baseline_rows)])
        loop_wall, loop_rss = run_measured([sys.executable, __file__, "--worker", "loop", "--data", str(data),
                                            "--baseline-rows", str(args.baseline_rows), "--out",
                                            str(root / "loop.json")])
        import polars as pl

        ours = sorted(pl.read_parquet(root / "sub" / "_filtered.parquet")["row"].to_list())
        theirs = json.loads((root / "loop.json").read_text())
        stats = json.loads((root / "all" / "_stats.json").read_text())
        rows = [("distill filter", f"{args.rows:,}", f"{wall:.1f}", f"{args.rows / wall:,.0f}", f"{rss:,.0f}"),
                ("distill filter", f"{args.baseline_rows:,}", f"{sub_wall:.1f}",
                 f"{args.baseline_rows / sub_wall:,.0f}", f"{sub_rss:,.0f}"),
                ("python loop", f"{args.baseline_rows:,}", f"{loop_wall:.1f}",
                 f"{args.baseline_rows / loop_wall:,.0f}", f"{loop_rss:,.0f}")]
        print(table(rows, ("method", "traces", "seconds", "traces/s", "peak RSS MiB")))
        print(f"speed-up (traces/s, full run vs loop): {(args.rows / wall) / (args.baseline_rows / loop_wall):.1f}x;"
              f" on the same subsample: {loop_wall / sub_wall:.1f}x (target >= 10x); peak RSS {rss / 1024:.2f} GiB "
              f"(target < 4 GiB)")
        print(f"dropped: {stats.get('dropped')}; subsample: distill {len(ours)}, loop {len(theirs)}, "
              f"same rows: {ours == theirs}")


if __name__ == "__main__":
    main()
