"""collect's glue: read every source a batch at a time, normalize and deduplicate the prompts, write the shards
(and the rejected rows). Options are parsed by cli/collect.py; normalizing is core.py, reading sources.py."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from distill_cli.errors import BadInput
from distill_cli.progress import console
from distill_cli.stagedir.directory import StageDir
from distill_cli.stagedir.runner import RunOptions, write_frame
from distill_cli.stages.collect.core import CollectConfig, Fields, dedupe_ids, normalize, reject_counts, resolve_fields
from distill_cli.stages.collect.sources import make_source, read_batches


def run(sources: list[str], cfg: CollectConfig, opts: RunOptions, split: str | None = None, streaming: bool = True,
        rejects: Path | None = None) -> StageDir:
    """Collect the prompts of `sources` into `opts.out`; returns the stage directory."""
    output, limit, quiet = opts.out, opts.limit, opts.quiet
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

    params = {"config": cfg.__dict__, "split": split, **opts.semantic()}
    stats = {"rows_in": rows.height + duplicates + bad.height, "dropped": {**reject_counts(bad),
             **({"duplicate_id": duplicates} if duplicates else {})},
             "domains": dict(rows.group_by("domain").len().iter_rows())}
    after = None if rejects is None else (lambda: _write_rejects(bad, rejects))
    sd = write_frame("collect", rows, opts, params, fingerprints, list(sources), stats, after)
    complete, n_shards = bool(sd.read_manifest().get("complete")), sd.n_shards
    if not quiet:
        state = "" if complete else " (other shards pending)"
        console.print(f"collect: {rows.height} prompts in {n_shards} shard(s) -> {output}{state}; "
                      f"dropped {stats['dropped'] or 'none'}")
    return sd










def _write_rejects(bad: pl.DataFrame, path: Path) -> None:
    from distill_cli.stagedir.atomic import temp_name

    tmp = temp_name(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        bad.write_parquet(tmp)
    else:
        bad.write_ndjson(tmp)
    tmp.replace(path)
