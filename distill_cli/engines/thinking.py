"""Split a completion into its thinking (`reasoning`) and the answer after it (`response`).

Verify reads the final answer from `response` only, so a trace that never left its thinking must have an empty
response (verify calls it no_answer) rather than its half-finished reasoning.
"""

from __future__ import annotations

OPEN = "<think>"
CLOSE = "</think>"


def split_thinking(text: str, reasoning_content: str | None = None, think_open: bool = False
                   ) -> tuple[str | None, str]:
    """Return (reasoning, response).

    - a server that already split the trace (`reasoning_content`) is trusted;
    - `...</think> answer`: the part before the first `</think>` is the reasoning, with or without the opening tag
      (DeepSeek-R1-Distill templates put `<think>` in the prompt, so the completion only closes it);
    - an opened but never closed thinking (the tag in the completion, or `think_open`: the rendered prompt ended
      with `<think>`) is all reasoning and no response, whatever stopped it;
    - no tags at all: no reasoning, the completion is the response.
    """
    if reasoning_content is not None:
        return reasoning_content.strip(), text.strip()
    head, closed, tail = text.partition(CLOSE)
    if closed:
        return _drop_open(head).strip(), tail.strip()
    if OPEN in text or think_open:
        return _drop_open(text).strip(), ""
    return None, text.strip()


def _drop_open(text: str) -> str:
    before, opened, after = text.partition(OPEN)
    return after if opened and not before.strip() else text


def join_thinking(reasoning: str | None, response: str) -> str:
    """The raw-looking completion of a server that returned reasoning and content apart (documented, not raw)."""
    if reasoning is None:
        return response
    return f"{OPEN}\n{reasoning}\n{CLOSE}\n\n{response}"


def ends_with_open_think(prompt: str | None) -> bool:
    return bool(prompt) and prompt.rstrip().endswith(OPEN)
