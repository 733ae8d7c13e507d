"""dedupe's glue: decide on a narrow frame of the whole input (exact, MinHash near, decontamination, then the
semantic steps), write the side tables, and stream the kept rows into shards. Options: cli/dedupe.py."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict
from pathlib import Path

import numpy as np
import polars as pl

from distill_cli.errors import BadInput
from distill_cli.progress import console
from distill_cli.schema import CONTAMINATION, DUPLICATES
from distill_cli.stagedir.atomic import temp_name, write_parquet
from distill_cli.stagedir.directory import StageDir
from distill_cli.stagedir.inputs import InputSet, file_digest, open_input
from distill_cli.stagedir.messages import already_complete, shard_pending
from distill_cli.stagedir.runner import RunOptions, Streamed, run_global, stream_rows
from distill_cli.stages.dedupe import DedupeConfig
from distill_cli.stages.dedupe.core import DedupePlan, dedupe_scan
from distill_cli.stages.dedupe.decontam_scan import decontaminate_scan
from distill_cli.stages.dedupe.references import load_references
from distill_cli.stages.dedupe.semantic_step import semantic_step
from distill_cli.stages.dedupe.units import ROW, On, narrow_frame
from distill_cli.stages.keys import check_unique

STREAM_ROWS = 20_000  # rows per batch read from the input (texts for the plan, then whole rows for the output)


def side_name(stem: str, opts: RunOptions) -> str:
    """One side table per partition under --shard I/N (each partition is deduplicated on its own)."""
    return f"{stem}.parquet" if opts.shard is None else f"{stem}-part-{opts.shard[0]:05d}.parquet"


def run(input: str, cfg: DedupeConfig, opts: RunOptions, reference_split: str = "test",
        semantic: float | None = None, decontaminate_semantic: float | None = None, embed_model: str | None = None,
        embed_cache: Path | None = None) -> StageDir:
    """Deduplicate and decontaminate `input` into `opts.out`; returns the stage directory."""
    output, quiet = opts.out, opts.quiet
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
        plan, rows = _plan(lf, cfg, refs, run.out, text_batches(inp, run))
        if sem is not None:
            plan = sem.run(plan, rows, quiet)
        # side tables before the shards: a directory whose manifest says complete always has them, whole
        write_parquet(run.out / side_name(DUPLICATES, run), plan.duplicates)
        write_parquet(run.out / side_name(CONTAMINATION, run), plan.contamination)
        keep = np.ones(plan.stats["rows_in"], bool)  # 1 byte a row: setdiff1d sorted copies of 8 (160 MB at 10M)
        keep[plan.removed.to_numpy()] = False
        kept = np.flatnonzero(keep)
        return Streamed(len(kept), lf.collect_schema(), stream_rows(inp, run, kept, STREAM_ROWS)), plan.stats

    params = {**asdict(cfg), "decontaminate": list(cfg.decontaminate),
              "references": _fingerprints(cfg.decontaminate), "reference_split": reference_split,
              **(sem.params() if sem else {})}
    sd = run_global("dedupe", inp, opts, params=params, compute=compute)
    if not quiet and not already_complete("dedupe", sd, output, quiet) and \
            not shard_pending("dedupe", sd, opts.shard, output, quiet):
        _summary(sd.read_manifest().get("stats", {}), output)
    return sd


def text_batches(inp: InputSet, opts: RunOptions) -> Callable[[list[str]], Iterator[pl.DataFrame]]:
    """(ROW, *columns) of run_global's frame a batch at a time, read a row group at a time: polars' collect_batches
    read ahead (decontamination held 2.3 GB at 4M prompts against 0.8 GB at 1M)."""
    def batches(cols: list[str]) -> Iterator[pl.DataFrame]:
        start = 0
        read = list(dict.fromkeys([*cols, *(["id"] if opts.shard else [])]))
        for frame in stream_rows(inp, opts, None, STREAM_ROWS, read)():
            yield frame.select(pl.int_range(start, start + frame.height, dtype=pl.Int64).alias(ROW), *cols)
            start += frame.height
    return batches


def _plan(lf: pl.LazyFrame, cfg: DedupeConfig, refs: pl.DataFrame | None, out: Path,
          texts: Callable[[list[str]], Iterator[pl.DataFrame]] | None = None) -> tuple[DedupePlan, pl.LazyFrame]:
    """Decide on a narrow frame and streamed texts; MinHash state spills to a temp directory in the output,
    removed when done (or, after a kill, by the next run's sweep of dead writers' temp files). Decontamination
    alone needs no narrow frame: it decides batch by batch (decontam_scan.py)."""
    rows = lf.with_row_index(ROW).with_columns(pl.col(ROW).cast(pl.Int64))
    batches = texts or (lambda cols: rows.select(ROW, *cols).collect_batches(chunk_size=STREAM_ROWS))
    if refs is not None and cfg.decontaminate and not cfg.exact and cfg.near is None:
        return decontaminate_scan(batches, lf.collect_schema().names(), cfg, refs), rows
    narrow = _narrow(rows, cfg.on, batches, cfg.keep in ("longest", "shortest"))
    spill = temp_name(out / "_minhash")
    try:
        plan = dedupe_scan(narrow, batches, cfg, refs, spill)
    finally:
        shutil.rmtree(spill, ignore_errors=True)
    return plan, rows


def _narrow(rows: pl.LazyFrame, on: On, batches: Callable[[list[str]], Iterable[pl.DataFrame]],
            lengths: bool = True) -> pl.DataFrame:
    """The narrow frame, built a batch of rows at a time: polars' streaming collect of it read ahead through the
    texts (530 MB of peak RSS at 2M prompts for a 38 MB frame, 1.8 GB at 10M). lengths=False (no --keep
    longest/shortest): the texts are not read, their lengths are 0 (decoding them was 1.3 of 19 CPU s per 1M
    prompts), unless the input has no other column to count its rows by."""
    names = rows.collect_schema().names()
    text = ["prompt"] if on == "prompt" else ["response"] if on == "response" else ["prompt", "response"]
    identity = [c for c in ("id", "sample", "model", "score") if c in names]
    lengths = lengths or not identity
    parts = [narrow_frame(batch, on, lengths) for batch in batches(identity + text * lengths)]
    return pl.concat(parts, rechunk=True) if parts else narrow_frame(rows, on, lengths).head(0).collect()


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
