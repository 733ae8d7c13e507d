"""Token logprobs over the OpenAI chat API: what to ask for, and reading the answer into arrays.

The OpenAI API returns each token as text (`"token": " the"`), which does not name a token id: the same text can be
several ids, and byte-level pieces are not valid text at all. A vLLM server, asked `return_tokens_as_token_ids`,
writes `"token": "token_id:1234"` instead, and with `return_token_ids` adds the prompt's ids. distill stores ids, so a
server that answers with text tokens (OpenAI itself, most proxies) is refused with a clear message rather than
stored as guessed ids.
"""

from __future__ import annotations

import re

from distill_cli.engines.logprobs import TokenLogprobs

ID_TOKEN = re.compile(r"token_id:(-?\d+)")


class NoLogprobs(Exception):
    """The server did not return token ids with logprobs; every row would fail alike."""


def request_fields(k: int) -> dict:
    """Body fields for top-K logprobs with token ids (the last two are vLLM's; only sent with --logprobs)."""
    return {"logprobs": True, "top_logprobs": k, "return_tokens_as_token_ids": True, "return_token_ids": True}


def _token_id(entry: dict) -> int:
    found = ID_TOKEN.fullmatch(str(entry.get("token", "")))
    if not found:
        raise NoLogprobs(f"the server returned tokens as text ({entry.get('token')!r}), not token ids; distill "
                         "stores token ids, which a vLLM server returns (return_tokens_as_token_ids)")
    return int(found.group(1))


def parse(data: dict, choice: dict, k: int) -> TokenLogprobs:
    """The choice's tokens, their logprobs and top-K as arrays."""
    import numpy as np

    content = (choice.get("logprobs") or {}).get("content")
    if content is None:
        raise NoLogprobs("the server returned no logprobs (it does not support `logprobs`/`top_logprobs`); use a "
                         "vLLM server or --backend vllm")
    ids = [_token_id(e) for e in content]
    lps = [float(e.get("logprob", -9999.0)) for e in content]
    top_ids = np.zeros((len(content), k), dtype=np.int32)
    top_lps = np.zeros((len(content), k), dtype=np.float32)
    for i, entry in enumerate(content):  # one small list per token: the HTTP answer is JSON, parsed anyway
        top = sorted(entry.get("top_logprobs") or [], key=lambda t: -float(t.get("logprob", -9999.0)))[:k]
        if len(top) < k:
            raise NoLogprobs(f"the server returned {len(top)} top logprobs for a token, not the {k} asked for")
        top_ids[i] = [_token_id(t) for t in top]
        top_lps[i] = [float(t["logprob"]) for t in top]
    given = choice.get("token_ids")
    if given is not None and list(given) != ids:
        raise NoLogprobs("the server's token_ids do not match the tokens of its logprobs")
    prompt = data.get("prompt_token_ids")
    return TokenLogprobs(np.asarray(ids, dtype=np.int32), np.asarray(lps, dtype=np.float32), top_ids, top_lps,
                         None if prompt is None else np.asarray(prompt, dtype=np.int32))
