"""export's frozen params: record format and shape, think tags, what to do with traces that are not correct."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from distill_cli.errors import BadInput

Format = Literal["sft", "dpo", "kd"]
Style = Literal["messages", "sharegpt", "alpaca"]
DpoStyle = Literal["conversational", "standard"]
Incorrect = Literal["refuse", "drop", "allow"]

@dataclass(frozen=True)
class ExportConfig:
    format: Format = "sft"
    style: Style = "messages"
    dpo_style: DpoStyle = "conversational"
    think_open: str = "<think>"
    think_close: str = "</think>"
    reasoning_field: bool = False  # reasoning as the assistant message's `reasoning_content`, not in think tags
    system: str | None = None
    meta: bool = True
    incorrect: Incorrect = "refuse"
    limit: int | None = None

    def check(self) -> None:
        if self.reasoning_field and (self.format == "dpo" and self.dpo_style == "standard"
                                     or self.format == "sft" and self.style != "messages"):
            raise BadInput("--reasoning-field needs a messages format (--style messages, or conversational DPO); "
                           "ShareGPT, Alpaca and plain-string DPO have no reasoning field, use --think-tags")
        if self.system is not None and self.format == "dpo" and self.dpo_style == "standard":
            raise BadInput("--system needs conversational DPO: a plain-string prompt has no system message")


# which --format reads each format-specific option (the others refuse it)
READERS = {"style": ("sft",), "allow_incorrect": ("sft", "kd"), "drop_incorrect": ("sft", "kd"),
           "dpo_style": ("dpo",), "think_tags": ("sft", "dpo"), "reasoning_field": ("sft", "dpo"),
           "system": ("sft", "dpo")}


def parse_think_tags(text: str) -> tuple[str, str]:
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 2 or not all(parts):
        raise BadInput(f"--think-tags {text!r}: expected OPEN,CLOSE such as '<think>,</think>'")
    return parts[0], parts[1]


def export_config(fmt: Format, style: Style, dpo_style: DpoStyle, think_tags: str, reasoning_field: bool,
                  system: str | None, no_meta: bool, allow_incorrect: bool, drop_incorrect: bool,
                  limit: int | None) -> ExportConfig:
    """The config of `distill export`'s options; contradictory ones are refused here."""
    if allow_incorrect and drop_incorrect:
        raise BadInput("--allow-incorrect and --drop-incorrect contradict each other; pick one")
    if fmt == "dpo" and style != "messages":
        raise BadInput("--style applies to SFT; DPO records are TRL's prompt/chosen/rejected (see --dpo-style)")
    open_tag, close_tag = parse_think_tags(think_tags)
    incorrect = "allow" if allow_incorrect else "drop" if drop_incorrect else "refuse"
    cfg = ExportConfig(fmt, style, dpo_style, open_tag, close_tag, reasoning_field, system, not no_meta,
                       incorrect, limit)
    cfg.check()
    return cfg
