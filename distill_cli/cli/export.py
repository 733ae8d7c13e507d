"""distill export: a stage directory in, an SFT or DPO training file (and its dataset card) out."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from distill_cli.cli import common
from distill_cli.cli.base import app
from distill_cli.cli.common import choice, opt
from distill_cli.stages.export.config import READERS, DpoStyle, Format, Style

EPILOG = ("Example: distill export runs/x/deduped -o runs/x/sft.jsonl --format sft   "
          "|   distill export runs/x/pairs -o runs/x/dpo --format dpo   "
          "|   distill export runs/x/deduped -o hf:me/my-traces --format sft")



@app.command(epilog=EPILOG)
def export(
    ctx: typer.Context,
    input: Annotated[str, typer.Argument(help="Stage directory, Parquet file or glob of verified traces "
                                         "(DPO: rows tagged by `select --pairs`).", show_default=False)],
    output: Annotated[str, typer.Option("-o", "--output", help="Target: FILE.jsonl, FILE.parquet, a directory "
                                        "(datasets save_to_disk) or hf:ORG/NAME.", show_default=False)],
    fmt: Annotated[Format, choice(Format, "--format")] = "sft",
    style: Annotated[Style, choice(Style, "--style", help="SFT record shape: messages (OpenAI/TRL) | sharegpt "
                                   "(LLaMA-Factory from/value) | alpaca (instruction/input/output).")] = "messages",
    dpo_style: Annotated[DpoStyle, choice(DpoStyle, "--dpo-style", help="DPO shape: conversational (lists of "
                                          "messages) | standard (plain strings).")] = "conversational",
    think_tags: Annotated[str, typer.Option(help="OPEN,CLOSE tags around the reasoning in the assistant text.")
                          ] = "<think>,</think>",
    reasoning_field: Annotated[bool, typer.Option("--reasoning-field", help="Put the reasoning in the assistant "
                                                  "message's `reasoning_content` field instead of think tags.")
                               ] = False,
    system: Annotated[str | None, typer.Option(help="System prompt to add to every conversation.")] = None,
    no_meta: Annotated[bool, typer.Option("--no-meta", help="Only the training columns; drop id, model, "
                                          "difficulty, ...")] = False,
    allow_incorrect: Annotated[bool, typer.Option("--allow-incorrect", help="SFT: export traces whose verdict is "
                                                  "not `correct` (or unverified ones), with a warning count.")
                               ] = False,
    drop_incorrect: Annotated[bool, typer.Option("--drop-incorrect", help="SFT: leave out traces whose verdict is "
                                                 "not `correct`, with a count.")] = False,
    card: Annotated[Path | None, typer.Option(help="Where to write the dataset card (default: README.md in a "
                                              "directory target, NAME.card.md beside a file).")] = None,
    public: Annotated[bool, typer.Option("--public", help="hf: targets: make the new dataset repo public (default "
                                         "private).")] = False,
    limit: Annotated[int | None, opt(common.COMMON, "--limit", min=1, help="Export at most N records.")] = None,
    overwrite: common.Overwrite = False,
    quiet: common.Quiet = False,
) -> None:
    """Write traces as SFT (messages, ShareGPT, Alpaca) or DPO (TRL) training data, with a dataset card."""
    from distill_cli.stages.export.config import export_config
    from distill_cli.stages.export.run import run

    common.refuse_unused(ctx, READERS, (fmt,), "--format")
    cfg = export_config(fmt, style, dpo_style, think_tags, reasoning_field, system, no_meta, allow_incorrect,
                        drop_incorrect, limit)
    run(input, cfg, output, card, public, overwrite, quiet)
