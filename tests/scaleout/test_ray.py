"""The Ray executor on a local Ray instance: same shards, rows, stats and manifest as the local runner."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from distill_cli.errors import BadInput
from distill_cli.stagedir.inputs import open_input
from distill_cli.stagedir.runner import RunOptions, run_map

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.slow  # starting Ray takes several seconds


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR")
    yield
    ray.shutdown()


def _input(tmp_path: Path, rows: int = 50) -> Path:
    src = tmp_path / "in"
    src.mkdir()
    df = pl.DataFrame({"id": [f"{i:04x}" for i in range(rows)], "x": list(range(rows))})
    df.head(30).write_parquet(src / "a.parquet")
    df.tail(rows - 30).write_parquet(src / "b.parquet")
    return src


def _shards(path: Path) -> list[pl.DataFrame]:
    return [pl.read_parquet(f) for f in sorted(path.glob("part-*.parquet"))]


def test_ray_run_writes_what_the_local_run_writes(tmp_path, local_ray):
    from distill_cli.stagedir.ray_executor import run_map_ray

    def square(df, task):
        return df.with_columns(y=pl.col("x") ** 2), {"squared": df.height}

    inp = open_input(str(_input(tmp_path)))
    local = run_map("toy", inp, RunOptions(out=tmp_path / "local", rows_per_shard=7, quiet=True), {"p": 1}, square)
    remote = run_map_ray("toy", inp, RunOptions(out=tmp_path / "ray", rows_per_shard=7, quiet=True), {"p": 1}, square)
    assert len(_shards(local.path)) == len(_shards(remote.path)) == 8  # 30 rows -> 5 shards, 20 rows -> 3
    for a, b in zip(_shards(local.path), _shards(remote.path), strict=True):
        assert a.equals(b)
    m_local = json.loads((local.path / "_manifest.json").read_text())
    m_ray = json.loads((remote.path / "_manifest.json").read_text())
    assert m_ray["complete"] and m_ray["params_hash"] == m_local["params_hash"]
    assert m_ray["shards"] == m_local["shards"] and m_ray["stats"]["squared"] == 50


def test_ray_resumes_a_local_run_and_honours_shard(tmp_path, local_ray):
    from distill_cli.stagedir.ray_executor import run_map_ray

    calls = tmp_path / "calls"
    calls.mkdir()

    def mark(df, task):
        (calls / f"{task.index}").touch()  # the local Ray shares this filesystem
        return df, {}

    inp = open_input(str(_input(tmp_path)))
    run_map("toy", inp, RunOptions(out=tmp_path / "o", rows_per_shard=10, shard=(0, 2), quiet=True), {}, mark)
    assert sorted(p.name for p in calls.iterdir()) == ["0", "2", "4"]
    sd = run_map_ray("toy", inp, RunOptions(out=tmp_path / "o", rows_per_shard=10, quiet=True), {}, mark)
    assert sorted(p.name for p in calls.iterdir()) == ["0", "1", "2", "3", "4"]  # only the missing shards ran
    assert json.loads((sd.path / "_manifest.json").read_text())["complete"]


def test_an_error_in_a_task_is_the_stage_error(tmp_path, local_ray):
    from distill_cli.stagedir.ray_executor import run_map_ray

    def refuse(df, task):
        raise BadInput(f"row {task.index}: cannot use this row")

    inp = open_input(str(_input(tmp_path)))
    with pytest.raises(BadInput, match=r"^row \d: cannot use this row$"):
        run_map_ray("toy", inp, RunOptions(out=tmp_path / "bad", rows_per_shard=100, quiet=True), {}, refuse)
    assert not (tmp_path / "bad").exists()  # nothing that looks like output is left


def _traces(tmp_path: Path) -> Path:
    """GSM8K test prompts with right, wrong, missing and unparsable answers: every verdict path of math verify."""
    from support.cli import BENCHMARKS

    gold = pl.read_ndjson(BENCHMARKS / "gsm8k_test.jsonl").head(40)
    answers = [a.split("####")[-1].strip().replace(",", "") for a in gold["answer"]]
    responses = []
    for i, a in enumerate(answers):
        responses.append([f"So the answer is $\\boxed{{{a}}}$.", f"The answer is \\boxed{{{int(a) + 1}}}",
                          "I am not sure.", f"Thus \\boxed{{{a}.0}}"][i % 4])
    df = pl.DataFrame({"id": [f"{i:04x}" for i in range(40)], "prompt": gold["question"], "answer": answers,
                       "domain": ["math"] * 40, "response": responses, "finish_reason": ["stop"] * 40})
    path = tmp_path / "traces"
    path.mkdir()
    df.head(25).write_parquet(path / "part-00000.parquet")
    df.tail(15).write_parquet(path / "part-00001.parquet")
    return path


def test_verify_through_ray_gets_the_local_verdicts(tmp_path, local_ray):
    from support.cli import distill

    from distill_cli.stagedir.ray_executor import run_map_ray
    from distill_cli.stages.verify.core import VerifyConfig
    from distill_cli.stages.verify.fill import Filled, plan_fill
    from distill_cli.stages.verify.scaleout import RayVerify

    traces = _traces(tmp_path)
    res = distill("verify", traces, "-o", tmp_path / "local", "--rows-per-shard", "10", "--workers", "2")
    assert res.returncode == 0, res.stderr
    cfg = VerifyConfig(workers=1)
    params = json.loads((tmp_path / "local" / "_manifest.json").read_text())["params"]
    params = {k: v for k, v in params.items() if k not in ("limit", "rows_per_shard")}
    inp = open_input(str(traces))  # as `verify --executor ray` runs it: the input's fill plan, then RayVerify
    fill = plan_fill(inp.scan(), inp.schema, list(zip(inp.files, inp.rows, strict=True)), str(traces))
    sd = run_map_ray("verify", inp, RunOptions(out=tmp_path / "ray", rows_per_shard=10, quiet=True), params,
                     Filled(fill, RayVerify(cfg)))
    local = pl.read_parquet(tmp_path / "local" / "part-*.parquet")
    remote = pl.read_parquet(sd.path / "part-*.parquet")
    assert remote.equals(local)
    assert local["verdict"].value_counts().sort("verdict").rows() == [("correct", 20), ("incorrect", 10),
                                                                       ("no_answer", 10)]
    m_local = json.loads((tmp_path / "local" / "_manifest.json").read_text())
    assert sd.read_manifest()["params_hash"] == m_local["params_hash"]  # a local run resumes a Ray run and back
    assert sd.read_manifest()["stats"]["verdicts"] == m_local["stats"]["verdicts"]


def test_generate_through_ray_writes_the_local_traces(tmp_path, local_ray):
    """generate over an OpenAI-compatible server on loopback (deterministic answers): each Ray task builds its
    own backend from a picklable factory; the traces equal `distill generate --backend openai`."""
    import sys
    from dataclasses import asdict
    from functools import partial

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # `tests.support` (no tests/__init__.py)
    from support.cli import BENCHMARKS, distill

    from distill_cli.engines.openai_backend import OpenAIBackend
    from distill_cli.engines.types import Sampling
    from distill_cli.stagedir.ray_executor import run_map_ray
    from distill_cli.stages.generate.core import GenerateConfig
    from distill_cli.stages.generate.scaleout import RayGenerate
    from tests.support import fault_server

    prompts = tmp_path / "prompts"
    assert distill("collect", BENCHMARKS / "aime2024_test.jsonl", "-o", prompts, "--limit", "9", "-q").returncode == 0
    with fault_server(seed=3) as server:
        res = distill("generate", prompts, "-o", tmp_path / "local", "--backend", "openai", "--model", "fault-model",
                      "--base-url", server.base_url, "-n", "2", "--rows-per-shard", "3", "--max-tokens", "64", "-q")
        assert res.returncode == 0, res.stderr
        manifest = json.loads((tmp_path / "local" / "_manifest.json").read_text())
        p = manifest["params"]["generate"]
        cfg = GenerateConfig(model=p["model"], model_name=p["model_name"], backend="openai", n=p["n"],
                             sampling=Sampling(**p["sampling"]), system_prompt=p["system_prompt"],
                             prompt_template=p["prompt_template"], chat_template_kwargs=p["chat_template_kwargs"],
                             engine=p["engine"])
        make = partial(OpenAIBackend, model="fault-model", base_url=server.base_url, concurrency=4, timeout=30.0)
        sd = run_map_ray("generate", open_input(str(prompts)), RunOptions(out=tmp_path / "ray", rows_per_shard=3,
                         quiet=True), {"generate": p}, RayGenerate(cfg, make))
    assert sd.read_manifest()["params_hash"] == manifest["params_hash"]
    # the recorded params are the config (logprob fields only when --logprobs is given, so older runs resume)
    assert p == {**{k: v for k, v in asdict(cfg).items() if k != "logprobs_dtype"}, "sampling": cfg.sampling.fields()}
    local = pl.read_parquet(tmp_path / "local" / "part-*.parquet")
    remote = pl.read_parquet(sd.path / "part-*.parquet")
    assert remote.height == 18 and len(list(sd.path.glob("part-*.parquet"))) == 3
    assert remote.equals(local)


@pytest.mark.slow
def test_verify_command_with_ray_executor_matches_local(tmp_path):
    """`verify --judge --judge-url --executor ray`: each Ray task verifies its shard and asks the (fake, scripted)
    judge about the rows the checkers left open; rows, verdicts and stats equal a local run's."""
    pytest.importorskip("ray")
    import subprocess
    import sys

    from support import distill_env, fault_server
    from support.cli import distill

    traces = _traces(tmp_path)
    first = pl.read_parquet(traces / "part-00000.parquet")["prompt"][2]  # an unparsable answer the judge accepts
    script = tmp_path / "script.json"
    script.write_text(json.dumps({first[:60]: {"reply": "VERDICT: CORRECT"},
                                  "I am not sure": {"reply": "VERDICT: INCORRECT"}}))

    def run(out: str, *extra: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "distill_cli", "verify", str(traces), "-o", str(tmp_path / out),
                               "--rows-per-shard", "10", "--judge", "fault-model", "--judge-url", server.base_url,
                               *extra], capture_output=True, text=True, timeout=600, env=distill_env(RAY_ADDRESS=""))

    with fault_server(script=script) as server:
        local = run("local")
        remote = run("ray", "--executor", "ray")
        answered = server.stats()["answered"]
    assert local.returncode == 0 and remote.returncode == 0, remote.stderr[-2000:]
    ray_rows = pl.read_parquet(tmp_path / "ray" / "part-*.parquet")
    assert ray_rows.equals(pl.read_parquet(tmp_path / "local" / "part-*.parquet"))
    assert len(answered) == 10 and set(answered.values()) == {2}  # each open row asked once per run, not more
    assert ray_rows.group_by("verifier", "verdict").len().sort("verifier", "verdict").rows() == [
        ("judge", "correct", 1), ("judge", "incorrect", 9), ("numeric", "correct", 20), ("numeric", "incorrect", 10)]
    stats = [json.loads((tmp_path / d / "_manifest.json").read_text())["stats"] for d in ("local", "ray")]
    assert stats[0]["by_checker"] == stats[1]["by_checker"] and stats[1]["by_checker"]["judge"] == {
        "correct": 1, "incorrect": 9}
    assert stats[1]["judge"]["asked"] == 10
    bad = distill("verify", traces, "-o", tmp_path / "x", "--executor", "dask")
    assert bad.returncode == 2 and "--executor 'dask'" in bad.stderr


@pytest.mark.slow
def test_generate_command_with_ray_executor_matches_local(tmp_path):
    pytest.importorskip("ray")
    from support import fault_server
    from support.cli import BENCHMARKS, distill

    prompts = tmp_path / "prompts"
    assert distill("collect", BENCHMARKS / "aime2024_test.jsonl", "-o", prompts, "--limit", "6", "-q").returncode == 0
    with fault_server(seed=5, rate_500=0.2) as server:
        args = ["--backend", "openai", "--model", "fault-model", "--base-url", server.base_url, "-n", "2",
                "--rows-per-shard", "3", "--max-tokens", "64", "--max-retries", "20", "-q"]
        local = distill("generate", prompts, "-o", tmp_path / "local", *args)
        remote = distill("generate", prompts, "-o", tmp_path / "ray", *args, "--executor", "ray",
                         env={"RAY_ADDRESS": ""})
    assert local.returncode == 0 and remote.returncode == 0, remote.stderr[-2000:]
    cols = ["id", "sample", "completion", "response", "finish_reason", "completion_tokens"]
    assert pl.read_parquet(tmp_path / "ray" / "part-*.parquet").select(cols).equals(
        pl.read_parquet(tmp_path / "local" / "part-*.parquet").select(cols))


def test_task_options_are_what_the_cluster_can_schedule():
    """Ray waits forever for a task the cluster can never place: an engine's GPU only where there are GPUs (a
    CPU-only cluster runs vLLM's CPU build), and no more CPUs per task than the cluster has."""
    from distill_cli.stagedir.ray_executor import fit_options

    assert fit_options({"num_cpus": 1, "num_gpus": 1}, {"CPU": 2.0}) == {"num_cpus": 1}
    assert fit_options({"num_cpus": 1, "num_gpus": 2}, {"CPU": 8.0, "GPU": 4.0}) == {"num_cpus": 1, "num_gpus": 2}
    assert fit_options({"num_cpus": 4}, {"CPU": 2.0}) == {"num_cpus": 2}
