"""distill dedupe: remove benchmark-contaminated, exactly duplicated and near-duplicated prompts (or responses)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from distill_cli.cli import common
from distill_cli.cli.base import app
from distill_cli.cli.common import choice
from distill_cli.stages.dedupe.config import BUNDLED, READERS, Keep, On

EXAMPLE = ("Example: distill dedupe runs/x/verified -o runs/x/deduped --exact --near 0.8 "
           "--decontaminate all --keep best-score")



@app.command(epilog=EXAMPLE)
def dedupe(
    ctx: typer.Context,
    input: Annotated[str, typer.Argument(help="Stage directory, Parquet file or glob.", show_default=False)],
    output: common.Output,
    exact: Annotated[bool, typer.Option("--exact", help="Drop exact duplicates of the normalized text (NFKC, "
                                        "lowercase, punctuation and whitespace removed). Implied when no --near or "
                                        "--decontaminate is given.")] = False,
    near: Annotated[float | None, typer.Option(max=1.0, metavar="THRESHOLD", help="Drop near duplicates: MinHash "
                                               "LSH, pairs verified at estimated Jaccard >= THRESHOLD (e.g. 0.8).")
                    ] = None,
    on: Annotated[On, choice(On, "--on", help="prompt: rows sharing an id are one prompt, kept or dropped together; "
                             "response|both: per row.")] = "prompt",
    keep: Annotated[Keep, choice(Keep, "--keep", help="Which copy of a duplicate cluster survives (best-score: the "
                                 "`score` column, averaged over a prompt's rows).")] = "first",
    decontaminate: Annotated[list[str] | None, typer.Option(
        metavar="NAME|PATH", help=f"Drop prompts overlapping a benchmark: {', '.join(BUNDLED)}, all, a "
        "JSONL/JSON/Parquet file with a problem/question/prompt column, or hf:NAME. Repeatable; commas allowed.")
    ] = None,
    ngram: Annotated[int, typer.Option(min=2, help="Words per n-gram of the decontamination overlap.")] = 8,
    common_ngram_items: Annotated[int, typer.Option(min=0, help="Ignore n-grams found in this many benchmark "
                                                    "problems or more (boilerplate such as 'write a python function "
                                                    "to find the sum of'); 0 uses all.")] = 3,
    min_ngrams: Annotated[int, typer.Option(min=1, help="Shared n-grams with one benchmark problem that make a "
                                            "prompt a copy of it (1: open-r1's rule; problems with fewer n-grams "
                                            "need all of theirs).")] = 3,
    reference_split: Annotated[str, typer.Option(help="Split of hf: decontamination datasets.")] = "test",
    shingle: Annotated[int, typer.Option(min=1, help="Words per MinHash shingle.")] = 3,
    num_perm: Annotated[int, typer.Option(min=8, max=1024, help="MinHash permutations.")] = 128,
    bands: Annotated[int | None, typer.Option(min=1, help="LSH bands (default: chosen so a pair at the threshold "
                                              "is caught with P >= 0.99).")] = None,
    rows: Annotated[int | None, typer.Option(min=1, help="MinHash values per LSH band.")] = None,
    semantic: Annotated[float | None, typer.Option(metavar="THRESHOLD", help="Also drop semantic duplicates: "
                                                   "embeddings (--embed-model) at cosine >= THRESHOLD (e.g. 0.95), "
                                                   "found with a faiss index.")] = None,
    decontaminate_semantic: Annotated[float | None, typer.Option(metavar="THRESHOLD", help="Drop prompts whose "
                                                                 "embedding is this similar to a benchmark problem "
                                                                 "(the --decontaminate benchmarks, or all bundled "
                                                                 "ones).")] = None,
    embed_model: Annotated[str | None, typer.Option(help="Embedding model for the semantic steps (vLLM pooling "
                                                    "runner; 'tiny' = the bundled model).")] = None,
    embed_cache: Annotated[Path | None, typer.Option(help="Where embeddings are saved chunk by chunk and reused by "
                                                     "later runs \\[default: ~/.cache/distill/embeddings].")] = None,
    shard: common.Shard = None,
    limit: common.Limit = None,
    overwrite: common.Overwrite = False,
    quiet: common.Quiet = False,
    progress_interval: common.ProgressInterval = 30.0,
    rows_per_shard: common.RowsPerShard = 100_000,
) -> None:
    """Remove benchmark-contaminated prompts, then exact and near duplicates; list every removed row."""
    from distill_cli.stages.dedupe.config import dedupe_config, modes
    from distill_cli.stages.dedupe.run import run

    cfg = dedupe_config(exact, near, on, keep, decontaminate or [], ngram, common_ngram_items, shingle, num_perm,
                        bands, rows, min_ngrams)
    common.refuse_unused(ctx, READERS, modes(cfg), "")
    opts = common.run_options(output, shard, limit, overwrite, 1, quiet, rows_per_shard, progress_interval)
    run(input, cfg, opts, reference_split, semantic, decontaminate_semantic, embed_model, embed_cache)
