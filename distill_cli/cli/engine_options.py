"""Options of the model engines and of prompt rendering, declared once for every command that runs a model
(generate, score, compress's rewrite, verify's judge).

Each group is made for a help panel, and the engine's with a flag prefix too: `Engine("LLM judge", "judge-")`
gives --judge-dtype, --judge-kv-cache-memory ... for parameters named judge_dtype, judge_kv_cache_memory ...
Annotate a parameter with an attribute (`dtype: ENGINE.Dtype = "auto"`) and give the default as usual.
"""

from __future__ import annotations

from typing import Annotated

import typer


class Engine:
    """The offline vLLM engine's options."""

    def __init__(self, panel: str, prefix: str = "") -> None:
        self.panel = panel

        def opt(name: str, *more: str, **kwargs):
            return typer.Option(f"--{prefix}{name}", *more, rich_help_panel=panel, **kwargs)

        self.Dtype = Annotated[str, opt("dtype", help="auto (float32 on CPU), float32, bfloat16, float16.")]
        self.MaxModelLen = Annotated[int | None, opt(
            "max-model-len", min=16, help="Context length; a longer input is not run and counts as an error row.")]
        self.TensorParallelSize = Annotated[int, opt("tensor-parallel-size", min=1)]
        self.KvCacheMemory = Annotated[str | None, opt(
            "kv-cache-memory", help="KV-cache size: 1GiB, 512MiB or bytes; wins over --gpu-memory-utilization. On "
            "CPU without either, distill sizes it (max-num-seqs x max-model-len tokens, at most half the free "
            "memory).", show_default=False)]
        self.GpuMemoryUtilization = Annotated[float | None, opt(
            "gpu-memory-utilization", min=0.001, max=1.0, help="GPU: the share of GPU memory vLLM may use (vLLM's "
            "default 0.9). On CPU prefer --kv-cache-memory.")]
        self.EnforceEager = Annotated[bool, opt(
            f"enforce-eager/--{prefix}no-enforce-eager", help="No CUDA graphs / compilation: faster start.")]
        self.MaxNumSeqs = Annotated[int | None, opt("max-num-seqs", min=1, help="Sequences batched at once.")]
        self.EngineArg = Annotated[list[str] | None, opt(
            "engine-arg", help="KEY=VALUE passed to vllm.LLM verbatim (VALUE read as JSON, else a string), e.g. "
            "enable_prefix_caching=true; repeat for more.", show_default=False)]


class Rendering:
    """How a prompt becomes the model's input, and the token logprobs kept."""

    def __init__(self, panel: str) -> None:
        self.SystemPrompt = Annotated[str | None, typer.Option(help="System message before each prompt.",
                                                               rich_help_panel=panel)]
        self.PromptTemplate = Annotated[str | None, typer.Option(help="User message with {prompt} in it.",
                                                                 rich_help_panel=panel)]
        self.ChatTemplateKwargs = Annotated[str | None, typer.Option(
            help="JSON passed to the chat template, e.g. '{\"enable_thinking\": true}'.", rich_help_panel=panel)]


class Checkpoints:
    """How often finished rows of a shard are saved (a killed run resumes from them)."""

    def __init__(self, panel: str = "Checkpoints") -> None:
        self.Every = Annotated[int, typer.Option(min=1, help="Save finished rows every N results ...",
                                                 rich_help_panel=panel)]
        self.Seconds = Annotated[float, typer.Option(min=0.0, help="... or every S seconds.", rich_help_panel=panel)]
