"""distill collect: datasets in, a prompts stage directory out."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import polars as pl
import typer

from distill_cli.cli.base import app
from distill_cli.cli.common import Limit, Output, Overwrite, Quiet, RowsPerShard, Shard, Workers, run_options
from distill_cli.errors import BadInput
from distill_cli.progress import console
from distill_cli.stagedir.directory import StageDir
from distill_cli.stages.collect.core import (
    AnswerFormat,
    CollectConfig,
    Domain,
    Fields,
    dedupe_ids,
    normalize,
    reject_counts,
    resolve_fields,
)
from distill_cli.stages.collect.sources import make_source, read_batches


@app.command(epilog="Example: distill collect gsm8k_test.jsonl.gz 'snapshot/data/*.parquet' -o runs/x/prompts")
def collect(
    sources: Annotated[list[str], typer.Argument(
        help="Files (.jsonl/.json/.csv/.tsv, plain or .gz/.zst/.bz2; .parquet; .arrow), quoted globs of them, "
             "directories (hub snapshots, `datasets` save_to_disk output) or hf:NAME[:CONFIG].",
        show_default=False)],
    output: Output,
    prompt_field: Annotated[str | None, typer.Option(help="Column holding the prompt (auto: problem, "
                                                        "question, prompt, ...).")] = None,
    answer_field: Annotated[str | None, typer.Option(help="Column holding the answer or worked solution "
                                                        "(auto: answer, gt, solution, ...).")] = None,
    answer_format: Annotated[str, typer.Option(help="auto|boxed|gsm8k|raw: how to read the final answer.")] = "auto",
    tests_field: Annotated[str | None, typer.Option(help="Column holding code tests (auto: test_list, "
                                                       "tests, input_output).")] = None,
    domain: Annotated[str, typer.Option(help="auto|math|code|choice|text.")] = "auto",
    split: Annotated[str | None, typer.Option(help="Split of hf: datasets (default train), of a save_to_disk "
                                              "DatasetDict, or of a directory holding several.")] = None,
    streaming: Annotated[bool, typer.Option(help="Stream hf: datasets instead of caching them whole.")] = True,
    rejects: Annotated[Path | None, typer.Option(help="Write dropped rows and why to this .jsonl/.parquet.")] = None,
    max_prompt_chars: Annotated[int, typer.Option(min=1, help="Drop prompts longer than this (prompt_too_long).")
                                ] = 1_000_000,
    tests_in_prompt: Annotated[int, typer.Option(min=0, help="Code: append the first N assert tests to the prompt, "
                                                 "as MBPP poses its problems (the tests name the function).")] = 0,
    shard: Shard = None,
    limit: Limit = None,
    overwrite: Overwrite = False,
    workers: Workers = 1,
    quiet: Quiet = False,
    rows_per_shard: RowsPerShard = 100_000,
) -> None:
    """Collect prompts with reference answers from local files and Hugging Face datasets."""
    if answer_format not in AnswerFormat.__args__:
        raise BadInput(f"--answer-format {answer_format!r}: expected one of {', '.join(AnswerFormat.__args__)}")
    if domain not in Domain.__args__:
        raise BadInput(f"--domain {domain!r}: expected one of {', '.join(Domain.__args__)}")
    opts = run_options(output, shard, limit, overwrite, workers, quiet, rows_per_shard)
    cfg = CollectConfig(prompt_field, answer_field, answer_format, domain, tests_field, max_prompt_chars,
                        tests_in_prompt)  # type: ignore[arg-type]
    srcs = [make_source(s, split) for s in sources]
    fingerprints = [s.fingerprint() for s in srcs]

    kept, dropped = [], []
    for src in srcs:
        fields: dict[tuple[str, ...], Fields] = {}  # the files of a glob or directory may differ in columns
        for batch in read_batches(src, streaming):
            columns = tuple(c for c in batch.columns if c != "__row")
            if columns not in fields:
                fields[columns] = resolve_fields(list(columns), cfg, src.spec)
            good, bad = normalize(batch, fields[columns], cfg, src.name)
            kept.append(good)
            dropped.append(bad)
    rows, duplicates = dedupe_ids(pl.concat(kept))
    if limit is not None:
        rows = rows.head(limit)
    bad = pl.concat(dropped)
    if rows.height == 0:
        raise BadInput(f"{', '.join(sources)}: no usable rows ({reject_counts(bad) or 'input is empty'})")

    n_shards = math.ceil(rows.height / opts.rows_per_shard)
    params = {"config": cfg.__dict__, "split": split, **opts.semantic()}
    sd = StageDir(output, "collect", params, fingerprints, n_shards, upstream=list(sources)).open(overwrite)
    stats = {"rows_in": rows.height + duplicates + bad.height, "dropped": {**reject_counts(bad),
             **({"duplicate_id": duplicates} if duplicates else {})},
             "domains": dict(rows.group_by("domain").len().iter_rows())}
    try:
        for i in range(n_shards):
            if opts.selects(i) and not sd.done(i):
                sd.write_shard(i, rows.slice(i * opts.rows_per_shard, opts.rows_per_shard), stats if i == 0 else {})
        if rejects is not None:
            _write_rejects(bad, rejects)
        complete = sd.finish()
    except BaseException:
        sd.abandon()
        raise
    if not quiet:
        state = "" if complete else " (other shards pending)"
        console.print(f"collect: {rows.height} prompts in {n_shards} shard(s) -> {output}{state}; "
                      f"dropped {stats['dropped'] or 'none'}")


def _write_rejects(bad: pl.DataFrame, path: Path) -> None:
    from distill_cli.stagedir.atomic import temp_name

    tmp = temp_name(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        bad.write_parquet(tmp)
    else:
        bad.write_ndjson(tmp)
    tmp.replace(path)
