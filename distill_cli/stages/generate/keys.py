"""Request keys: the identity of one paid-for sample, so a resumed run never sends it twice."""

from __future__ import annotations

import hashlib
import json

from distill_cli.engines.types import Sampling


def request_key(prompt_id: str, sample: int, messages: tuple[dict, ...], sampling: Sampling, model: str,
                chat_template_kwargs: dict | None = None) -> str:
    """Hash of everything that makes the request what it is; any change makes it a new request."""
    payload = {
        "id": prompt_id,
        "sample": sample,
        "messages": list(messages),
        "sampling": sampling.fields(),
        "model": model,
        "chat_template_kwargs": chat_template_kwargs or {},
    }
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.blake2b(blob.encode(), digest_size=16).hexdigest()
