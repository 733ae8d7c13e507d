"""A whole run's stage directories, built in tmp_path for the export and report tests.

`collect` is the real command over the bundled demo prompts; the later stages are written with the real
StageDir (real manifests, shards and stats) holding the contract columns, with traces whose verdicts follow a
fixed pattern so tests know the exact counts: model index m on prompt p gets (p + m) % (SAMPLES + 1) correct
samples out of SAMPLES.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from distill_cli.cli import app
from distill_cli.stagedir.directory import StageDir
from distill_cli.stagedir.inputs import open_input

MODELS = ("teacher-a", "teacher-b")
SAMPLES = 4
PROMPTS = 6
SAMPLING = {"temperature": 0.6, "top_p": 0.95, "max_tokens": 512, "seed": 1234}


@dataclass
class Run:
    root: Path
    prompts: Path
    traces: Path
    verified: Path
    graded: Path
    selected: Path
    compressed: Path
    deduped: Path
    pairs: Path


def n_correct(p: int, m: int) -> int:
    return (p + m) % (SAMPLES + 1)


def write_stage(path: Path, stage: str, df: pl.DataFrame, params: dict, upstream: Path, shards: int = 1,
                stats: dict | None = None) -> Path:
    inputs = open_input(str(upstream)).fingerprint()
    sd = StageDir(path, stage, params, inputs, shards, upstream=[str(upstream.resolve())]).open()
    step = -(-df.height // shards)
    for i in range(shards):
        sd.write_shard(i, df.slice(i * step, step), {"rows_in": df.height, **(stats or {})} if i == 0 else {})
    assert sd.finish()
    return path


def collect(root: Path) -> Path:
    src = files("distill_cli") / "data" / "demo_gsm8k.jsonl"
    out = root / "prompts"
    res = CliRunner().invoke(app, ["collect", str(src), "-o", str(out), "--limit", str(PROMPTS), "-q"])
    assert res.exit_code == 0, res.output
    return out


def traces_frame(prompts: pl.DataFrame) -> pl.DataFrame:
    rows = []
    for p, prompt in enumerate(prompts.iter_rows(named=True)):
        for m, model in enumerate(MODELS):
            for s in range(SAMPLES):
                good = s < n_correct(p, m)
                answer = prompt["answer"] if good else "-1"
                reasoning = f"Step one for {prompt['id']}. " * (4 + s + 3 * m) + "So the answer follows."
                response = f"The answer is \\boxed{{{answer}}}."
                rows.append({**prompt, "model": model, "sample": s,
                             "completion": f"<think>\n{reasoning}\n</think>\n\n{response}",
                             "reasoning": reasoning, "response": response, "finish_reason": "stop",
                             "prompt_tokens": 40 + p, "completion_tokens": 100 + 25 * s + 60 * m + p,
                             "gen_params": json.dumps(SAMPLING), "seed": 1234,
                             "verdict": "correct" if good else ("no_answer" if s == SAMPLES - 1 else "incorrect"),
                             "score": 1.0 if good else 0.0, "extracted": answer, "verifier": "math"})
    return pl.DataFrame(rows)


def band(rate: float) -> str:
    return "unsolved" if rate == 0 else "hard" if rate < 0.5 else "medium" if rate < 1 else "easy"


def make_run(root: Path) -> Run:
    root.mkdir(parents=True, exist_ok=True)
    prompts = collect(root)
    full = traces_frame(pl.read_parquet(sorted(prompts.glob("part-*.parquet"))))
    verify_cols = ["verdict", "score", "extracted", "verifier"]
    traces = write_stage(root / "traces", "generate", full.drop(verify_cols),
                         {"model": ",".join(MODELS), "n": SAMPLES, "sampling": SAMPLING}, prompts, shards=2,
                         stats={"completion_tokens": int(full["completion_tokens"].sum())})
    verdicts = dict(full.group_by("verdict").len().iter_rows())
    verified = write_stage(root / "verified", "verify", full, {"timeout": 10.0}, traces, shards=2,
                           stats={"verdicts": verdicts})
    rates = full.group_by("id", "model").agg(n_samples=pl.len(), pass_rate=pl.col("score").mean(),
                                             score_cv=pl.lit(None, pl.Float64))
    graded_df = full.join(rates, on=["id", "model"]).with_columns(
        difficulty=pl.col("pass_rate").map_elements(band, return_dtype=pl.String)).sort("id", "model", "sample")
    graded = write_stage(root / "graded", "grade", graded_df, {"bands": "default"}, verified)
    kept = graded_df.filter((pl.col("verdict") == "correct") & pl.col("difficulty").is_in(["medium", "hard"]))
    selected = write_stage(root / "selected", "select", kept,
                           {"by": "difficulty", "keep": ["medium", "hard"], "verdict": "correct"}, graded)
    short = pl.col("reasoning").str.slice(0, pl.col("reasoning").str.len_chars() // 2)
    comp_df = kept.with_columns(reasoning_original=pl.col("reasoning"), compression=pl.lit("trim")).with_columns(
        reasoning=short).with_columns(
        compression_ratio=pl.col("reasoning").str.len_chars() / pl.col("reasoning_original").str.len_chars())
    compressed = write_stage(root / "compressed", "compress", comp_df, {"strategy": "trim"}, selected)
    deduped = _dedupe(root, comp_df, compressed)
    return Run(root, prompts, traces, verified, graded, selected, compressed, deduped, _pairs(root, graded_df, graded))


def _dedupe(root: Path, comp_df: pl.DataFrame, compressed: Path) -> Path:
    """Drop the first row as a duplicate and the second as contaminated by MATH-500, with the side files."""
    out = write_stage(root / "deduped", "dedupe", comp_df.slice(2),
                      {"exact": True, "near": 0.8, "decontaminate": ["math500", "gsm8k"]}, compressed,
                      stats={"rows_in": comp_df.height, "duplicates": 1, "contaminated": 1})
    removed = comp_df.head(2).select("id", "sample", "model").with_row_index("row").cast({"row": pl.Int64})
    removed.head(1).with_columns(kind=pl.lit("exact"), similarity=pl.lit(1.0), kept_row=pl.lit(5),
                                 kept_id=pl.lit("x")).write_parquet(out / "_duplicates.parquet")
    contaminated = removed.slice(1, 1).with_columns(benchmark=pl.lit("math500"), bench_index=pl.lit(17),
                                                    bench_text=pl.lit("What is 1+1?"), match=pl.lit("ngram"),
                                                    ngram=pl.lit("what is 1"), shared_ngrams=pl.lit(3))
    contaminated.write_parquet(out / "_contamination.parquet")
    return out


def _pairs(root: Path, graded_df: pl.DataFrame, graded: Path) -> Path:
    """What `select --pairs` gives: per (id, model) with both kinds, the first correct and first incorrect."""
    pieces = []
    for (pid, model), group in graded_df.group_by("id", "model", maintain_order=True):
        good = group.filter(pl.col("verdict") == "correct").head(1)
        bad = group.filter(pl.col("verdict") != "correct").head(1)
        if good.height and bad.height:
            tag = pl.lit(f"{pid}:{model}")
            pieces += [good.with_columns(pair_id=tag, pair_role=pl.lit("chosen")),
                       bad.with_columns(pair_id=tag, pair_role=pl.lit("rejected"))]
    return write_stage(root / "pairs", "select", pl.concat(pieces), {"pairs": True}, graded)
