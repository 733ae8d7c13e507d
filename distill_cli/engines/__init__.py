"""Teacher engines and API clients: offline vLLM, OpenAI-compatible servers, batch APIs, token usage and prices."""
