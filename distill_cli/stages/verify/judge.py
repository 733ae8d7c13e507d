"""The LLM judge's pure part: which rows it sees, the prompt it gets, and how its reply becomes a verdict.

A judge decides what the rule-based checkers cannot (free-form science answers, answers math-verify cannot parse,
references it cannot read), as OpenThoughts and NeMo-Skills do. It never overrides a decided row unless asked
(`--judge-when always`), and a reply that does not say one verdict unambiguously is `judge_error`, never a pass:
a training set is only as good as its verifier, and a lenient parse of a confused judge would let wrong traces in.
No I/O here: judge_run.py sends the requests (through generate's backends and checkpoints).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from distill_cli.errors import BadInput

DEFAULT_PROMPT = Path(__file__).resolve().parents[2] / "templates" / "judge.txt"  # shipped in the wheel
PLACEHOLDERS = ("problem", "reference", "answer", "trace")
JUDGE_DOMAINS = ("math", "choice", "text")  # code is decided by running its tests, never by a judge
# no_answer reasons that mean "the parser found nothing it could read", not "there is no answer"
PARSE_REASONS = frozenset({"no_answer_found", "no_number", "no_letter_found"})
NO_REFERENCE = "(no reference answer is given)"
NO_ANSWER = "(the student gave no final answer)"
MAX_ANSWER_CHARS = 2000
OUTPUT = {"judge_verdict": pl.String, "judge_output": pl.String, "judge_model": pl.String,
          "judge_prompt_hash": pl.String, "verdict_source": pl.String}


@dataclass(frozen=True)
class JudgeConfig:
    """`model` is what the backend loads or asks for; `when` is fallback, always or domain:D; the template's
    placeholders are filled by plain replacement, so LaTeX braces elsewhere in it stay as they are."""

    model: str
    template: str
    when: str = "fallback"
    with_trace: bool = False  # show the judge the whole response, not only the extracted final answer
    max_tokens: int = 512
    checkpoint_every: int = 16
    engine: dict = field(default_factory=dict)  # an offline engine's output-shaping options (dtype, max_model_len)

    @property
    def prompt_hash(self) -> str:
        return hashlib.sha256(self.template.encode()).hexdigest()[:16]

    def params(self) -> dict:
        """What changes the verdicts (the template by its hash, an offline engine's dtype, context and engine
        arguments); where the judge runs, its KV-cache size and its concurrency do not."""
        return {"model": self.model, "when": self.when, "with_trace": self.with_trace, "max_tokens": self.max_tokens,
                "prompt_sha256": self.prompt_hash, **({"engine": self.engine} if self.engine else {})}


def check_when(when: str) -> str:
    if when in ("fallback", "always"):
        return when
    if when.startswith("domain:") and when[7:] in JUDGE_DOMAINS:
        return when
    raise BadInput(f"--judge-when {when!r}: expected fallback, always or domain:D with D one of "
                   f"{', '.join(JUDGE_DOMAINS)} (code rows are decided by their tests)")


def read_template(path: Path | None) -> str:
    path = DEFAULT_PROMPT if path is None else path.expanduser()
    if not path.is_file():
        raise BadInput(f"--judge-prompt {path}: no such file")
    text = path.read_text(encoding="utf-8")
    missing = [p for p in ("problem", "answer") if "{" + p + "}" not in text]
    if missing:
        raise BadInput(f"--judge-prompt {path}: it must contain the placeholder(s) "
                       f"{', '.join('{' + p + '}' for p in missing)}")
    return text


def wants_judge(verdict: str, reason: str | None, domain: str, when: str) -> bool:
    """fallback: rows the checkers could not decide (unverifiable, or no answer their parser could read)."""
    if domain not in JUDGE_DOMAINS:
        return False
    if when == "always":
        return True
    if when.startswith("domain:"):
        return domain == when[7:]
    return verdict == "unverifiable" or (verdict == "no_answer" and reason in PARSE_REASONS)


def judge_answer(response: str | None, extracted: str | None) -> str:
    """What the judge is shown as the final answer: the checker's extraction, else the last boxed value or
    'answer is' line of the final response, else the final response's tail."""
    from distill_cli.stages.verify.extract import final_response, text_candidate

    if extracted:
        return extracted
    text = final_response(response)
    if text is None or not text.strip():
        return NO_ANSWER
    candidate = text_candidate(text)
    answer = candidate if candidate else text.strip()
    return answer if len(answer) <= MAX_ANSWER_CHARS else "..." + answer[-MAX_ANSWER_CHARS:]


def render(template: str, problem: str | None, reference: str | None, answer: str, trace: str | None) -> str:
    values = {"problem": (problem or "").strip(), "reference": (reference or "").strip() or NO_REFERENCE,
              "answer": answer, "trace": f"\nThe student's full response:\n{trace}\n" if trace else ""}
    out = template
    for name in PLACEHOLDERS:
        out = out.replace("{" + name + "}", values[name])
    return out


_WORDS = {"correct": "correct", "incorrect": "incorrect", "right": "correct", "wrong": "incorrect",
          "yes": "correct", "no": "incorrect", "true": "correct", "false": "incorrect", "pass": "correct",
          "fail": "incorrect", "equivalent": "correct", "not equivalent": "incorrect", "not correct": "incorrect"}
_WORD = r"(not\s+correct|not\s+equivalent|incorrect|correct|right|wrong|yes|no|true|false|pass|fail|equivalent)"
_VERDICT_LINE = re.compile(r"(?:verdict|judg(?:e)?ment|grade)\s*\**\s*[:=]?\s*\**\s*[\"'`(\[]?\s*"
                           + _WORD + r"\b", re.I)
_BOXED = re.compile(r"\\boxed\{\s*(?:\\text\{)?\s*" + _WORD + r"\s*\}?\s*\}", re.I)


def parse_verdict(text: str | None) -> str | None:
    """correct / incorrect from a judge's reply, or None when it does not say one verdict unambiguously.

    Looks after the judge's own thinking only; accepts a JSON object ({"verdict": "correct"}, {"correct": true}),
    `VERDICT: X` lines (all must agree), a boxed word, a reply that is just the word, or a first line that is just
    the word followed by an explanation (a first-line "correct" only when the explanation says nothing negative:
    a false pass is the costly mistake)."""
    if text is None:
        return None
    if "</think>" in text:
        text = text.rsplit("</think>", 1)[1]
    elif "<think>" in text:
        return None  # the judge never finished thinking
    text = text.strip()
    if not text:
        return None
    for find in (_json_verdict, _line_verdict, _boxed_verdict, _bare_verdict, _first_line_verdict):
        found = find(text)
        if found is not None:
            return found
    return None


def _word(value) -> str | None:
    if isinstance(value, bool):
        return "correct" if value else "incorrect"
    if isinstance(value, str):
        return _WORDS.get(" ".join(value.strip().strip(".!*\"'`").casefold().split()))
    return None


def _json_verdict(text: str) -> str | None:
    for match in reversed(list(re.finditer(r"\{[^{}]*\}", text))):
        try:
            obj = json.loads(match.group(0))
        except ValueError:
            continue
        if not isinstance(obj, dict):
            continue
        for key in ("verdict", "judgement", "judgment", "grade", "correct", "is_correct", "result"):
            if key in obj:
                return _word(obj[key])
    return None


def _line_verdict(text: str) -> str | None:
    """The verdict lines must agree: a judge that writes both has not decided."""
    found = {_word(w) for w in _VERDICT_LINE.findall(text)}
    return found.pop() if len(found) == 1 else None


def _boxed_verdict(text: str) -> str | None:
    found = _BOXED.findall(text)
    return _word(found[-1]) if found else None


def _bare_verdict(text: str) -> str | None:
    return _word(text.strip("#*_ \n").rstrip(".!"))


_NEGATIVE = re.compile(r"\b(?:incorrect|wrong|not\s+correct|not\s+equivalent|mismatch|differ)", re.I)


def _first_line_verdict(text: str) -> str | None:
    first, _, rest = text.partition("\n")
    found = _bare_verdict(first)
    if found == "correct" and _NEGATIVE.search(rest):
        return None
    return found


# ---- rows in, verdicts out ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Ask:
    """One row the judge is asked about; rows with the same rendered question share one request (one key)."""

    index: int  # row position in the frame
    id: str
    prompt: str
    answer: str


def plan_asks(df: pl.DataFrame, cfg: JudgeConfig, domains: list[str], reasons: list[str | None]) -> list[Ask]:
    """The rows `cfg.when` selects, each with its rendered prompt. `domains` are the domains the rows were verified
    as and `reasons` the checkers' reasons (the frame's own columns may be null or absent)."""
    n = df.height

    def col(name: str) -> list:
        return df.get_column(name).cast(pl.String).to_list() if name in df.columns else [None] * n

    verdicts, responses, extracted = col("verdict"), col("response"), col("extracted")
    problems, references, ids = col("prompt"), col("answer"), col("id")
    if "answer_source" in df.columns:  # a consensus label stands in for a missing reference
        labels = col("consensus_answer")
        references = [lab if src == "consensus" else ref
                      for ref, lab, src in zip(references, labels, col("answer_source"), strict=True)]
    asks = []
    for i in range(n):
        if not wants_judge(verdicts[i], reasons[i], domains[i], cfg.when):
            continue
        answer = judge_answer(responses[i], extracted[i])
        trace = ((responses[i] or "").strip() or None) if cfg.with_trace else None
        asks.append(Ask(i, ids[i] or "", render(cfg.template, problems[i], references[i], answer, trace), answer))
    return asks


@dataclass(frozen=True)
class Reply:
    """What came back for one request: the raw completion and the part after the judge's thinking, or an error."""

    output: str | None
    response: str | None
    error: str | None = None


def apply_verdicts(df: pl.DataFrame, cfg: JudgeConfig, asks: list[Ask], replies: list[Reply | None],
                   reasons: list[str | None]) -> tuple[pl.DataFrame, list[str | None], dict]:
    """The judge's columns on every row (null where it was not asked), its verdicts in place of the checkers' where
    it decided; a reply without one clear verdict (or a failed request) is `judge_error` and the row keeps the
    checkers' verdict. Returns the frame, the rows' reasons (a judged row has none) and the judge's stats."""
    n = df.height
    verdict, score = df.get_column("verdict").to_list(), df.get_column("score").to_list()
    extracted = df.get_column("extracted").to_list()
    source = df.get_column("verifier").to_list()
    jv, out, model, phash = [None] * n, [None] * n, [None] * n, [None] * n
    reasons = list(reasons)
    counts: dict[str, int] = {}
    changed = 0
    for ask, reply in zip(asks, replies, strict=True):
        i = ask.index
        decided = parse_verdict(reply.response) if reply is not None and reply.error is None else None
        why = "judge_error" if decided is None else decided
        counts[why] = counts.get(why, 0) + 1
        jv[i], model[i], phash[i] = why, cfg.model, cfg.prompt_hash
        out[i] = reply.output if reply is not None and reply.error is None else (reply.error if reply else None)
        if decided is None:
            continue
        changed += decided != verdict[i]
        verdict[i], score[i], source[i], reasons[i] = decided, 1.0 if decided == "correct" else 0.0, "judge", None
        if extracted[i] is None and ask.answer != NO_ANSWER:
            extracted[i] = ask.answer
    failed = sum(1 for r in replies if r is None or r.error is not None)
    frame = df.with_columns(  # `verifier` names the judge where it decided, so by_checker counts it as the judge's
        pl.Series("verdict", verdict, pl.String), pl.Series("score", score, pl.Float64),
        pl.Series("extracted", extracted, pl.String), pl.Series("verifier", source, pl.String),
        *(pl.Series(name, values, OUTPUT[name]) for name, values in
          zip(OUTPUT, (jv, out, model, phash, source), strict=True)))
    stats = {"rows": len(asks), "verdicts": counts, "changed": changed, "request_failed": failed}
    return frame, reasons, stats
