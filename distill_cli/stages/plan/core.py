"""The arithmetic of a plan: counts and a pilot in, totals, cost and wall time out. No engine, no files.

Every number says how it was obtained (`*_how`), because an estimate a user cannot judge is worse than none:
prompt tokens are counted with the model's tokenizer when one is at hand, else estimated from characters;
completion tokens come from a pilot of real requests, a given mean, or the --max-tokens ceiling.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from distill_cli.engines.pricing import Priced

CHARS_PER_TOKEN = 4.0  # the usual rule of thumb for English text, used only without a tokenizer
BATCH_WINDOW_S = 24 * 3600  # OpenAI and Anthropic finish a batch within 24 hours


@dataclass(frozen=True)
class Pilot:
    """What N real requests returned: their completion tokens, when each finished, what they cost."""

    completion_tokens: tuple[int, ...]
    finished_at: tuple[float, ...]  # seconds from the first send, per request
    start_s: float  # starting the engine or checking the server
    prompt_tokens: int = 0
    cached_tokens: int = 0
    errors: int = 0

    @property
    def requests(self) -> int:
        return len(self.completion_tokens)

    @property
    def seconds(self) -> float:
        return max(self.finished_at, default=0.0)

    @property
    def mean_completion(self) -> float | None:
        return sum(self.completion_tokens) / self.requests if self.requests else None


@dataclass(frozen=True)
class Estimate:
    """One generate stage's plan."""

    name: str
    model: str
    backend: str
    prompts: int
    n: int
    max_tokens: int
    prompt_tokens: int  # of one sample of every prompt
    prompt_tokens_how: str
    priced: Priced
    concurrency: int = 1
    mean_completion: float | None = None
    completion_how: str = ""
    pilot: Pilot | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def requests(self) -> int:
        return self.prompts * self.n

    @property
    def total_prompt_tokens(self) -> int:
        return self.prompt_tokens * self.n

    @property
    def total_completion_tokens(self) -> int:
        mean = self.max_tokens if self.mean_completion is None else self.mean_completion
        return int(round(mean * self.requests))

    @property
    def cost(self) -> float | None:
        """USD; 0 for a local engine without a price (it has no API bill), None when unknown."""
        if self.priced.price is None:
            return 0.0 if self.priced.local else None
        return self.priced.cost(self.total_prompt_tokens, self.total_completion_tokens)

    @property
    def pilot_cost(self) -> float | None:
        if self.pilot is None or self.priced.price is None:
            return None
        return self.priced.cost(self.pilot.prompt_tokens, sum(self.pilot.completion_tokens), self.pilot.cached_tokens)

    @property
    def price_how(self) -> str:
        if self.priced.price is None:
            return "local engine: no API price, $0 (pass --price to cost its tokens)" if self.priced.local \
                else self.priced.note
        p = self.priced.price
        cached = f", cached {p.cached_input:g}" if p.cached_input is not None else ""
        batch = f", batch -{p.batch_discount:.0%}" if self.priced.batch else ""
        return f"${p.input:g} in, ${p.output:g} out{cached}{batch} per 1M tokens ({p.source})"

    def wall(self) -> tuple[float | None, str]:
        """Seconds for the whole stage, and how that was estimated."""
        if self.priced.batch:
            return float(BATCH_WINDOW_S), "a batch API finishes within 24 h (often much sooner)"
        pilot = self.pilot
        if pilot is None or not pilot.requests or pilot.seconds <= 0:
            return None, "unknown without a pilot (--pilot N measures it)"
        if self.priced.local:
            rate = sum(pilot.completion_tokens) / pilot.seconds
            if rate <= 0:
                return None, "the pilot generated no tokens"
            secs = pilot.start_s + self.total_completion_tokens / rate
            return secs, (f"engine start {pilot.start_s:.0f}s + tokens at the pilot's {rate:.0f} tok/s "
                          f"({pilot.requests} sequences at once; a full batch is faster, so this is an upper bound)")
        latency = sum(pilot.finished_at) / pilot.requests
        waves = math.ceil(self.requests / max(1, self.concurrency))
        return waves * latency, (f"{waves} waves of --concurrency {self.concurrency} at the pilot's mean latency "
                                 f"{latency:.1f}s (if the server keeps up)")


def completion_estimate(pilot: Pilot | None, mean: float | None, max_tokens: int) -> tuple[float | None, str]:
    if mean is not None:
        return mean, f"given: --mean-completion-tokens {mean:g}"
    if pilot is not None and pilot.mean_completion is not None:
        err = f", {pilot.errors} failed" if pilot.errors else ""
        return pilot.mean_completion, f"pilot: mean of {pilot.requests} real generations{err}"
    return None, f"ceiling: every sample uses --max-tokens {max_tokens} (--pilot N or --mean-completion-tokens " \
                 "gives a real estimate)"


def estimate_chars(texts: list[str]) -> int:
    return int(math.ceil(sum(len(t) for t in texts) / CHARS_PER_TOKEN))


def fmt_seconds(secs: float | None) -> str:
    if secs is None:
        return "?"
    secs = int(round(secs))
    if secs < 120:
        return f"{secs}s"
    hours, rest = divmod(secs, 3600)
    return f"{hours}h{rest // 60:02d}m" if hours else f"{rest // 60}m{rest % 60:02d}s"


def fmt_usd(usd: float | None) -> str:
    if usd is None:
        return "?"
    return f"${usd:,.2f}" if usd >= 1 else f"${usd:.4f}"
