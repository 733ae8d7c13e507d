"""The compress stage's one config: which strategies run, in which order, and how each one cuts."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, cast, get_args

from distill_cli.errors import BadInput

Strategy = Literal["trim", "dedupe-reflections", "first-correct", "max-tokens", "rewrite"]
OnFail = Literal["revert", "drop"]
STRATEGIES: tuple[str, ...] = get_args(Strategy)
# strategies that change the text of a trace (and so are re-verified); max-tokens only measures
TEXT_STRATEGIES = ("trim", "dedupe-reflections", "first-correct", "rewrite")
# target length of a rewrite as a share of the original reasoning, by the `difficulty` column from grade
DEFAULT_TARGETS: tuple[tuple[str, float], ...] = (
    ("trivial", 0.2), ("easy", 0.3), ("medium", 0.5), ("hard", 0.7), ("very_hard", 0.8), ("unsolved", 0.8),
)


@dataclass(frozen=True)
class RewriteConfig:
    template: str = ""  # the prompt template's text (distill_cli/templates/rewrite.txt)
    targets: tuple[tuple[str, float], ...] = DEFAULT_TARGETS
    default_target: float = 0.5  # for rows without a known difficulty
    min_words: int = 40  # never ask for less than this
    max_tokens: int = 4096  # generation limit of one rewrite
    temperature: float = 0.3

    def target_share(self, difficulty: str | None) -> float:
        return dict(self.targets).get((difficulty or "").lower(), self.default_target)


@dataclass(frozen=True)
class CompressConfig:
    strategies: tuple[Strategy, ...] = ("trim",)
    allowance: int = 1  # trim: paragraphs kept after the final answer's settled statement
    max_reflections: int = 2  # dedupe-reflections: reflection paragraphs kept per run of them
    near_threshold: float = 0.9  # dedupe-reflections: shingle Jaccard above which paragraphs are repeats
    extra_steps: int = 0  # first-correct: paragraphs kept after the first correct statement
    budget: int | None = None  # max-tokens: the token budget of a whole completion
    mark: bool = False  # max-tokens: keep over-budget traces and set over_budget instead of dropping them
    tokenizer: str | None = None  # max-tokens: a local tokenizer directory; None = the documented estimate
    on_fail: OnFail = "revert"
    all_rows: bool = False  # compress every row, not only verdict == correct
    reverify: bool = True
    rewrite: RewriteConfig = field(default_factory=RewriteConfig)

    def __post_init__(self) -> None:
        if not self.strategies:
            raise BadInput("--strategy: give at least one of " + ", ".join(STRATEGIES))
        for s in self.strategies:
            if s not in STRATEGIES:
                raise BadInput(f"--strategy {s!r}: expected one of {', '.join(STRATEGIES)}")
        if self.on_fail not in get_args(OnFail):
            raise BadInput(f"--on-fail {self.on_fail!r}: expected revert or drop")
        if "max-tokens" in self.strategies and self.budget is None:
            raise BadInput("--strategy max-tokens needs --budget N (tokens per completion)")
        if self.budget is not None and self.budget < 1:
            raise BadInput(f"--budget {self.budget}: must be at least 1")
        if min(self.allowance, self.max_reflections, self.extra_steps) < 0:
            raise BadInput("--allowance, --max-reflections and --extra-steps must be 0 or more")
        if not 0 < self.near_threshold <= 1:
            raise BadInput(f"--near-threshold {self.near_threshold}: must be in (0, 1]")
        if "rewrite" in self.strategies and "{reasoning}" not in self.rewrite.template:
            raise BadInput("rewrite template: it must contain the {reasoning} placeholder")


# which strategies read each strategy-specific option (the others refuse it: issue 22)
READERS: dict[str, tuple[str, ...]] = {
    "allowance": ("trim",), "max_reflections": ("dedupe-reflections",), "near_threshold": ("dedupe-reflections",),
    "extra_steps": ("first-correct",), "budget": ("max-tokens",), "mark": ("max-tokens",),
    "tokenizer": ("max-tokens",), **{name: ("rewrite",) for name in (
        "backend", "model", "base_url", "api_key", "concurrency", "template", "targets", "rewrite_max_tokens",
        "temperature")},
}


def compress_config(strategies: tuple[Strategy, ...], on_fail: OnFail, all_rows: bool, reverify: bool,
                    allowance: int, max_reflections: int, near_threshold: float, extra_steps: int,
                    budget: int | None, mark: bool, tokenizer: str | None, backend: str, model: str | None,
                    template: Path | None, targets: str | None, rewrite_max_tokens: int,
                    temperature: float) -> CompressConfig:
    """The run's params, checked: the rewrite template read (it must hold {reasoning}), --targets parsed, the
    rewriting model given (and a local one present)."""
    rewriting = "rewrite" in strategies
    rewrite = RewriteConfig(template=load_template(template) if rewriting else "", targets=parse_targets(targets),
                            max_tokens=rewrite_max_tokens, temperature=temperature)
    cfg = CompressConfig(strategies=strategies, allowance=allowance, max_reflections=max_reflections,
                         near_threshold=near_threshold, extra_steps=extra_steps, budget=budget, mark=mark,
                         tokenizer=tokenizer, on_fail=on_fail, all_rows=all_rows, reverify=reverify,
                         rewrite=rewrite)
    if rewriting:
        check_rewrite_options(backend, model)
    return cfg


def parse_strategies(values: list[str] | None) -> tuple[Strategy, ...]:
    """`--strategy trim,first-correct --strategy max-tokens` -> ('trim', 'first-correct', 'max-tokens')."""
    out: list[Strategy] = []
    for value in values or []:
        for name in (s.strip() for s in value.split(",") if s.strip()):
            if name not in STRATEGIES:
                raise BadInput(f"--strategy {name!r}: expected one of {', '.join(STRATEGIES)}")
            out.append(cast(Strategy, name))  # checked on the line above
    return tuple(out)


def parse_targets(text: str | None) -> tuple[tuple[str, float], ...]:
    """`easy=0.3,hard=0.7` -> the difficulty -> share table, over the defaults."""
    table = dict(DEFAULT_TARGETS)
    for item in (text or "").split(","):
        if not item.strip():
            continue
        name, sep, value = item.partition("=")
        try:
            share = float(value)
        except ValueError:
            share = -1.0
        if not sep or not 0 < share <= 1:
            raise BadInput(f"--targets {item.strip()!r}: expected DIFFICULTY=SHARE with 0 < SHARE <= 1")
        table[name.strip().lower()] = share
    return tuple(sorted(table.items()))


DEFAULT_TEMPLATE = Path(__file__).resolve().parents[2] / "templates" / "rewrite.txt"  # distill_cli/templates/ (wheel)


def load_template(path: Path | None) -> str:
    path = DEFAULT_TEMPLATE if path is None else path.expanduser()
    if not path.is_file():
        raise BadInput(f"--template {path}: no such file")
    text = path.read_text(encoding="utf-8")
    if "{reasoning}" not in text:
        raise BadInput(f"--template {path}: it must contain the {{reasoning}} placeholder")
    return text


def check_rewrite_options(backend: str, model: str | None) -> None:
    if not model:
        raise BadInput("--strategy rewrite needs --model (the rewriting model)")
    if backend == "vllm":
        from distill_cli.engines.backends import check_model_path

        check_model_path(model)


def kv_size(text: str | None) -> int | None:
    from distill_cli.engines.memory import parse_size

    return None if text is None else parse_size(text)
