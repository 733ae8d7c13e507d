"""Turn a prompt row into chat messages: optional system prompt, optional user-message template."""

from __future__ import annotations

import json

from distill_cli.errors import BadInput

PLACEHOLDER = "{prompt}"


# what the error suggests: copied into a shell as printed, it must work as written (plain replacement keeps
# `\boxed{}` as it is; a `\n` inside single quotes would stay a backslash and an n)
EXAMPLE_TEMPLATE = "{prompt} Please reason step by step, and put your final answer within \\boxed{}."


def check_template(template: str | None) -> None:
    if template is not None and PLACEHOLDER not in template:
        raise BadInput(f"--prompt-template: must contain {PLACEHOLDER}, e.g. --prompt-template '{EXAMPLE_TEMPLATE}'")


def apply_template(prompt: str, template: str | None) -> str:
    """Plain replacement, not str.format: math prompts are full of braces ({}, \\frac{a}{b}, \\boxed{})."""
    return prompt if template is None else template.replace(PLACEHOLDER, prompt)


def render_messages(prompt: str, system_prompt: str | None = None, template: str | None = None
                    ) -> tuple[dict, ...]:
    user = {"role": "user", "content": apply_template(prompt, template)}
    if system_prompt:
        return ({"role": "system", "content": system_prompt}, user)
    return (user,)


def parse_template_kwargs(text: str | None) -> dict:
    """--chat-template-kwargs '{"enable_thinking": true}' as a dict."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BadInput(f"--chat-template-kwargs: not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(value, dict):
        raise BadInput("--chat-template-kwargs: expected a JSON object, e.g. '{\"enable_thinking\": true}'")
    return value
