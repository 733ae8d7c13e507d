"""Integration fixtures: the bundled tiny teacher, built once per machine into the distill cache."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_model() -> Path:
    """Path of SmolLM2-135M-Instruct as a Hugging Face directory (`distill model tiny`; built if missing)."""
    from distill_cli.model import build_tiny

    return build_tiny()
