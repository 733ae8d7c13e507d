"""generate's frozen params: the teacher, how many samples, sampling, prompt rendering, output-shaping engine args."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Literal

from distill_cli.engines.types import Sampling

BackendName = Literal["vllm", "openai", "openai-batch", "anthropic-batch"]

@dataclass(frozen=True)
class GenerateConfig:
    model: str  # what the backend loads or asks for (a path, a hub name, a served model name)
    model_name: str  # what the `model` column records
    backend: BackendName = "vllm"
    n: int = 8
    sampling: Sampling = field(default_factory=Sampling)
    system_prompt: str | None = None
    prompt_template: str | None = None
    chat_template_kwargs: dict = field(default_factory=dict)
    engine: dict = field(default_factory=dict)  # engine options that shape the output (dtype, max_model_len, ...)

    def gen_params(self) -> str:
        """The `gen_params` column: everything needed to reproduce a row's request."""
        return json.dumps({"backend": self.backend, "n": self.n, **asdict(self.sampling),
                           "system_prompt": self.system_prompt, "prompt_template": self.prompt_template,
                           "chat_template_kwargs": self.chat_template_kwargs, **self.engine}, sort_keys=True)
