"""distill dedupe: remove benchmark-contaminated, exactly duplicated and near-duplicated prompts (or responses)."""

from __future__ import annotations

import shutil
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

import polars as pl
import typer

from distill_cli.cli.base import app
from distill_cli.cli.common import (
    Limit,
    Output,
    Overwrite,
    ProgressInterval,
    Quiet,
    RowsPerShard,
    Shard,
    Workers,
    already_complete,
    refuse_unused,
    run_options,
    shard_pending,
)
from distill_cli.cli.dedupe_semantic import semantic_step
from distill_cli.errors import BadInput
from distill_cli.progress import console
from distill_cli.stagedir.atomic import temp_name, write_parquet
from distill_cli.stagedir.inputs import file_digest, open_input
from distill_cli.stagedir.runner import RunOptions, Streamed, run_global
from distill_cli.stages.dedupe import DedupeConfig
from distill_cli.stages.dedupe.core import DedupePlan, dedupe_scan
from distill_cli.stages.dedupe.references import BUNDLED, expand_specs, load_references
from distill_cli.stages.dedupe.units import ROW, Keep, On, narrow_frame
from distill_cli.stages.keys import check_unique

STREAM_ROWS = 20_000  # rows per batch read from the input (texts for the plan, then whole rows for the output)
DUPLICATES = "_duplicates"
CONTAMINATION = "_contamination"
EXAMPLE = ("Example: distill dedupe runs/x/verified -o runs/x/deduped --exact --near 0.8 "
           "--decontaminate all --keep best-score")


def side_name(stem: str, opts: RunOptions) -> str:
    """One side table per partition under --shard I/N (each partition is deduplicated on its own)."""
    return f"{stem}.parquet" if opts.shard is None else f"{stem}-part-{opts.shard[0]:05d}.parquet"


# what reads each mode-specific option: --exact/--near (the duplicate search) or --decontaminate
READERS: dict[str, tuple[str, ...]] = {
    "on": ("--exact", "--near"), "keep": ("--exact", "--near"), "shingle": ("--near",), "num_perm": ("--near",),
    "bands": ("--near",), "rows": ("--near",), "ngram": ("--decontaminate",),
    "common_ngram_items": ("--decontaminate",), "min_ngrams": ("--decontaminate",),
    "reference_split": ("--decontaminate",),
}


@app.command(epilog=EXAMPLE)
def dedupe(
    ctx: typer.Context,
    input: Annotated[str, typer.Argument(help="Stage directory, Parquet file or glob.", show_default=False)],
    output: Output,
    exact: Annotated[bool, typer.Option(
        "--exact", help="Drop exact duplicates of the normalized text (NFKC, lowercase, punctuation and "
        "whitespace removed). Implied when no --near or --decontaminate is given.")] = False,
    near: Annotated[float | None, typer.Option(
        "--near", max=1.0, metavar="THRESHOLD",
        help="Drop near duplicates: MinHash LSH, pairs verified at estimated Jaccard >= THRESHOLD (e.g. 0.8).",
        show_default=False)] = None,
    on: Annotated[str, typer.Option(
        help="prompt: rows sharing an id are one prompt, kept or dropped together; response|both: per row.")]
        = "prompt",
    keep: Annotated[str, typer.Option(
        help="Which copy of a duplicate cluster survives: first|longest|shortest|best-score (the `score` "
        "column, averaged over a prompt's rows).")] = "first",
    decontaminate: Annotated[list[str] | None, typer.Option(
        "--decontaminate", metavar="NAME|PATH",
        help=f"Drop prompts overlapping a benchmark: {', '.join(BUNDLED)}, all, a JSONL/JSON/Parquet file "
        "with a problem/question/prompt column, or hf:NAME. Repeatable; commas allowed.",
        show_default=False)] = None,
    ngram: Annotated[int, typer.Option(min=2, help="Words per n-gram of the decontamination overlap.")] = 8,
    common_ngram_items: Annotated[int, typer.Option(
        min=0, help="Ignore n-grams found in this many benchmark problems or more (boilerplate such as 'write a "
        "python function to find the sum of'); 0 uses all.")] = 3,
    min_ngrams: Annotated[int, typer.Option(
        min=1, help="Shared n-grams with one benchmark problem that make a prompt a copy of it (1: open-r1's "
        "rule; problems with fewer n-grams need all of theirs).")] = 3,
    reference_split: Annotated[str, typer.Option(help="Split of hf: decontamination datasets.")] = "test",
    shingle: Annotated[int, typer.Option(min=1, help="Words per MinHash shingle.")] = 3,
    num_perm: Annotated[int, typer.Option(min=8, max=1024, help="MinHash permutations.")] = 128,
    bands: Annotated[int | None, typer.Option(
        min=1, help="LSH bands (default: chosen so a pair at the threshold is caught with P >= 0.99).",
        show_default=False)] = None,
    rows: Annotated[int | None, typer.Option(min=1, help="MinHash values per LSH band.", show_default=False)]
        = None,
    semantic: Annotated[float | None, typer.Option(
        "--semantic", metavar="THRESHOLD", help="Also drop semantic duplicates: embeddings (--embed-model) at "
        "cosine >= THRESHOLD (e.g. 0.95), found with a faiss index.", show_default=False)] = None,
    decontaminate_semantic: Annotated[float | None, typer.Option(
        "--decontaminate-semantic", metavar="THRESHOLD", help="Drop prompts whose embedding is this similar to a "
        "benchmark problem (the --decontaminate benchmarks, or all bundled ones).", show_default=False)] = None,
    embed_model: Annotated[str | None, typer.Option(
        help="Embedding model for the semantic steps (vLLM pooling runner; 'tiny' = the bundled model).",
        show_default=False)] = None,
    embed_cache: Annotated[Path | None, typer.Option(
        help="Where embeddings are saved chunk by chunk and reused by later runs [default: "
        "~/.cache/distill/embeddings].", show_default=False)] = None,
    shard: Shard = None,
    limit: Limit = None,
    overwrite: Overwrite = False,
    workers: Workers = 1,
    quiet: Quiet = False,
    progress_interval: ProgressInterval = 30.0,
    rows_per_shard: RowsPerShard = 100_000,
) -> None:
    """Remove benchmark-contaminated prompts, then exact and near duplicates; list every removed row."""
    cfg = _config(exact, near, on, keep, decontaminate or [], ngram, common_ngram_items, shingle, num_perm,
                  bands, rows, min_ngrams)
    modes = ("--exact",) * cfg.exact + ("--near",) * (cfg.near is not None) + ("--decontaminate",) * bool(
        cfg.decontaminate)
    refuse_unused(ctx, READERS, modes, "")
    opts = run_options(output, shard, limit, overwrite, workers, quiet, rows_per_shard, progress_interval)
    inp = open_input(input)
    inp.require("dedupe", {"prompt": pl.String})
    if cfg.on != "prompt":
        inp.require("dedupe", {"response": pl.String}, not_null=())
    if cfg.keep == "best-score" and "score" not in inp.schema:
        raise BadInput(f"{inp.files[0]}: --keep best-score needs a 'score' column (run `distill verify` first)")
    check_unique(inp.scan(opts.limit), str(inp.spec), "dedupe")  # it groups prompts, not (id, model, sample)
    refs = load_references(list(cfg.decontaminate), reference_split) if cfg.decontaminate else None
    sem = semantic_step(semantic, decontaminate_semantic, embed_model, embed_cache, cfg.on, cfg.keep,
                        cfg.decontaminate, reference_split)

    def compute(lf: pl.LazyFrame, run: RunOptions) -> tuple[Streamed, dict]:
        plan, rows = _plan(lf, cfg, refs, run.out)
        if sem is not None:
            plan = sem.run(plan, rows, quiet)
        # side tables before the shards: a directory whose manifest says complete always has them, whole
        write_parquet(run.out / side_name(DUPLICATES, run), plan.duplicates)
        write_parquet(run.out / side_name(CONTAMINATION, run), plan.contamination)
        removed = plan.removed
        kept = rows.filter(~pl.col(ROW).is_in(removed.implode())).drop(ROW)
        return Streamed(plan.stats["rows_in"] - removed.len(), kept.collect_schema(),
                        lambda: kept.collect_batches(chunk_size=STREAM_ROWS)), plan.stats

    params = {**asdict(cfg), "decontaminate": list(cfg.decontaminate),
              "references": _fingerprints(cfg.decontaminate), "reference_split": reference_split,
              **(sem.params() if sem else {})}
    sd = run_global("dedupe", inp, opts, params=params, compute=compute)
    if not quiet and not already_complete("dedupe", sd, output, quiet) and \
            not shard_pending("dedupe", sd, opts.shard, output, quiet):
        _summary(sd.read_manifest().get("stats", {}), output)


def _plan(lf: pl.LazyFrame, cfg: DedupeConfig, refs: pl.DataFrame | None, out: Path
          ) -> tuple[DedupePlan, pl.LazyFrame]:
    """Decide on a narrow frame and streamed texts; MinHash state spills to a temp directory in the output,
    removed when done (or, after a kill, by the next run's sweep of dead writers' temp files)."""
    rows = lf.with_row_index(ROW).with_columns(pl.col(ROW).cast(pl.Int64))
    narrow = narrow_frame(rows, cfg.on).collect(engine="streaming")
    spill = temp_name(out / "_minhash")
    try:
        plan = dedupe_scan(narrow, lambda cols: rows.select(ROW, *cols).collect_batches(chunk_size=STREAM_ROWS),
                           cfg, refs, spill)
    finally:
        shutil.rmtree(spill, ignore_errors=True)
    return plan, rows


def _config(exact: bool, near: float | None, on: str, keep: str, decontaminate: list[str], ngram: int,
            common_ngram_items: int, shingle: int, num_perm: int, bands: int | None,
            rows: int | None, min_ngrams: int = 3) -> DedupeConfig:
    if on not in On.__args__:
        raise BadInput(f"--on {on!r}: expected one of {', '.join(On.__args__)}")
    if near is not None and near <= 0:
        raise BadInput(f"--near {near}: the Jaccard threshold must be in (0, 1], e.g. 0.8")
    if keep not in Keep.__args__:
        raise BadInput(f"--keep {keep!r}: expected one of {', '.join(Keep.__args__)}")
    specs = tuple(expand_specs(decontaminate))
    if decontaminate and not specs:
        raise BadInput("--decontaminate: give a benchmark name, 'all', a file or hf:NAME")
    cfg = DedupeConfig(exact=exact or (near is None and not specs), near=near, on=on, keep=keep,  # type: ignore
                       shingle=shingle, num_perm=num_perm, bands=bands, rows=rows, decontaminate=specs, ngram=ngram,
                       common_ngram_items=common_ngram_items, min_ngrams=min_ngrams)
    if (bands or rows) and near is None:
        raise BadInput("--bands/--rows tune near-duplicate search: pass --near THRESHOLD too")
    resolved = cfg.lsh_shape()
    if resolved[0] * resolved[1] > num_perm:
        raise BadInput(f"--bands {resolved[0]} x --rows {resolved[1]} = {resolved[0] * resolved[1]} exceeds "
                       f"--num-perm {num_perm}")
    return DedupeConfig(**{**asdict(cfg), "bands": resolved[0] or None, "rows": resolved[1] or None})


def _fingerprints(specs: tuple[str, ...]) -> list[dict]:
    """Reference files enter the params by content, so editing one makes a re-run a conflict, not a skip."""
    out = []
    for spec in specs:
        path = Path(spec)
        out.append({"spec": spec, "digest": file_digest(path)} if path.is_file() else {"spec": spec})
    return out


def _summary(stats: dict, output: Path) -> None:
    removed = stats.get("removed", {})
    by_bench = ", ".join(f"{k} {v}" for k, v in stats.get("contaminated_by_benchmark", {}).items())
    console.print(
        f"dedupe: {stats.get('rows_in', 0)} rows -> {stats.get('rows_out', 0)} kept -> {output}; removed "
        f"{removed.get('contaminated', 0)} contaminated{f' ({by_bench})' if by_bench else ''}, "
        f"{removed.get('exact', 0)} exact and {removed.get('near', 0)} near duplicates"
        + (f", {removed['semantic']} semantic duplicates" if "semantic" in removed else "")
        + (f", {removed['contaminated_semantic']} semantically contaminated" if "contaminated_semantic" in removed
           else "")
    )
