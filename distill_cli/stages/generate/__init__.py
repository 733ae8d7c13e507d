"""generate: teacher traces from a vLLM engine or any OpenAI-compatible server."""
