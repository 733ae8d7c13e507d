"""Whether a server's chat template opens the thinking in the prompt, for the openai backend.

A DeepSeek-R1-Distill-style template ends the rendered prompt with `<think>`, so the completion starts inside the
thinking. The offline engine sees the rendered prompt; a chat server does not return it. Without knowing, a
completion cut off before `</think>` would look like a plain answer and verify would read half-finished thinking
as the final answer. vLLM (and servers copying its API) render a chat prompt on request: `POST /tokenize` with
the messages and `add_generation_prompt`, then `POST /detokenize` of the last tokens. The answer is one per
chat-template kwargs (the generation prompt does not depend on the messages), so a run asks once.
"""

from __future__ import annotations

import re

import httpx

from distill_cli.engines.thinking import ends_with_open_think

TAIL_TOKENS = 8  # enough to hold `<think>` and the newline after it, in any tokenizer
PROBE_TIMEOUT = 10.0


def server_root(base_url: str) -> str:
    """`http://host:8000/v1` -> `http://host:8000`: vLLM serves /tokenize beside /v1, not under it."""
    return re.sub(r"/v\d+/?$", "", base_url.rstrip("/"))


async def opens_thinking(client: httpx.AsyncClient, base_url: str, model: str, messages: list[dict],
                         chat_template_kwargs: dict) -> bool | None:
    """True or False as the server renders the prompt; None when it cannot say (no such endpoints, an error)."""
    root = server_root(base_url)
    body: dict = {"model": model, "messages": messages, "add_generation_prompt": True}
    if chat_template_kwargs:
        body["chat_template_kwargs"] = chat_template_kwargs
    try:
        tokens = await client.post(f"{root}/tokenize", json=body, timeout=PROBE_TIMEOUT)
        if tokens.status_code != 200:
            return None
        tail = tokens.json()["tokens"][-TAIL_TOKENS:]
        text = await client.post(f"{root}/detokenize", json={"model": model, "tokens": tail}, timeout=PROBE_TIMEOUT)
        if text.status_code != 200:
            return None
        return ends_with_open_think(text.json()["prompt"])
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None
