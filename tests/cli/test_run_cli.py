"""distill run through the real command: stages run as real processes over real Parquet stage directories."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from support.cli import BENCHMARKS, DEMO_DATA, distill

GSM8K = DEMO_DATA / "demo_gsm8k.jsonl"
MATH = DEMO_DATA / "demo_math500.jsonl"


def _write(tmp_path: Path, body: str, name: str = "p.yaml") -> Path:
    path = tmp_path / name
    path.write_text(f"run_dir: {tmp_path / 'run'}\n{body}")
    return path


COLLECTS = f"""stages:
  - collect: {{sources: [{GSM8K}], domain: math, rows_per_shard: 10}}
  - collect: {{name: math, sources: {MATH}, streaming: false}}
"""


def _manifest(d: Path) -> dict:
    return json.loads((d / "_manifest.json").read_text())


def _traces(path: Path) -> Path:
    """GSM8K prompts with right, wrong and missing final answers: what generate would hand to verify."""
    gold = pl.read_ndjson(BENCHMARKS / "gsm8k_test.jsonl").head(12)
    answers = [a.split("####")[-1].strip().replace(",", "") for a in gold["answer"]]
    rows = [{"id": f"{i // 2:04x}", "prompt": gold["question"][i // 2], "answer": answers[i // 2], "domain": "math",
             "source": "gsm8k", "model": "teacher", "sample": i % 2,
             "response": [f"\\boxed{{{answers[i // 2]}}}", "\\boxed{0}", "no idea"][i % 3],
             "completion_tokens": 10 + i, "finish_reason": "stop"} for i in range(24)]
    pl.DataFrame(rows).write_parquet(path)
    return path


CHAIN = """stages:
  - verify: {input: "%s", workers: 1}
  - grade: {}
  - select: {correct_only: false, per_prompt: 2}
  - dedupe: {exact: true}
  - export: {format: sft, allow_incorrect: true}
"""


@pytest.mark.slow
def test_second_run_skips_finished_stages_and_overwrite_redoes_only_what_changed(tmp_path):
    pipe = _write(tmp_path, CHAIN % _traces(tmp_path / "traces.parquet"))
    first = distill("run", pipe)
    assert first.returncode == 0, first.stderr
    run = tmp_path / "run"
    assert all(_manifest(run / d)["complete"] for d in ("verify", "grade", "select", "dedupe"))
    assert len((run / "export.jsonl").read_text().splitlines()) == 24
    stamps = {d: (run / d / "_manifest.json").stat().st_mtime_ns for d in ("verify", "grade", "select", "dedupe")}

    again = distill("run", pipe)
    assert again.returncode == 0, again.stderr
    assert "skip  1/5 verify: complete" in again.stderr and "skip  5/5 export: complete" in again.stderr
    assert "0 stage(s) ran, 5 skipped" in again.stderr
    assert {d: (run / d / "_manifest.json").stat().st_mtime_ns for d in stamps} == stamps
    state = json.loads((run / "_pipeline.json").read_text())
    assert state["order"] == ["verify", "grade", "select", "dedupe", "export"]

    pipe.write_text(pipe.read_text().replace("per_prompt: 2", "per_prompt: 1"))  # an edited stage
    refused = distill("run", pipe)
    assert refused.returncode == 2 and "holds a select run with other params" in refused.stderr
    assert "stage 3 (select) failed (exit 2)" in refused.stderr
    redo = distill("run", pipe, "--overwrite")
    assert redo.returncode == 0, redo.stderr
    assert "skip  1/5 verify" in redo.stderr and "skip  2/5 grade" in redo.stderr
    assert "--per-prompt 1 --overwrite" in redo.stderr  # the edited stage, and the ones after it, are redone
    assert "dedupe --exact --overwrite" in redo.stderr
    assert len((run / "export.jsonl").read_text().splitlines()) == 12
    assert (run / "verify" / "_manifest.json").stat().st_mtime_ns == stamps["verify"]


def test_collect_stages_run_and_are_skipped_the_second_time(tmp_path):
    pipe = _write(tmp_path, COLLECTS)
    assert distill("run", pipe).returncode == 0
    again = distill("run", pipe)
    assert again.returncode == 0 and "0 stage(s) ran, 2 skipped" in again.stderr


@pytest.mark.slow
def test_deleted_output_is_made_again_and_changed_input_reruns(tmp_path):
    src = tmp_path / "p.jsonl"
    src.write_text("".join(GSM8K.read_text().splitlines(keepends=True)[:5]))
    pipe = _write(tmp_path, f"stages:\n  - collect: {{sources: [{src}]}}\n")
    assert distill("run", pipe).returncode == 0
    out = tmp_path / "run" / "collect"
    assert pl.read_parquet(out / "part-*.parquet").height == 5

    src.write_text(GSM8K.read_text())  # the source grew: the stage must not be skipped
    res = distill("run", pipe)
    assert res.returncode == 2 and "pass --overwrite" in res.stderr  # collect's own conflict check
    assert "stage 1 (collect) failed (exit 2)" in res.stderr
    res = distill("run", pipe, "--overwrite")
    assert res.returncode == 0, res.stderr
    assert pl.read_parquet(out / "part-*.parquet").height == 24

    shutil.rmtree(out)
    res = distill("run", pipe)
    assert res.returncode == 0 and "1 stage(s) ran" in res.stderr
    assert pl.read_parquet(out / "part-*.parquet").height == 24


@pytest.mark.slow
def test_from_and_to_run_a_slice(tmp_path):
    pipe = _write(tmp_path, COLLECTS)
    res = distill("run", pipe, "--to", "collect")
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "run" / "collect").is_dir() and not (tmp_path / "run" / "math").exists()
    res = distill("run", pipe, "--from", "math")
    assert res.returncode == 0, res.stderr
    assert "1 stage(s) ran, 0 skipped" in res.stderr and _manifest(tmp_path / "run" / "math")["complete"]
    res = distill("run", pipe, "--from", "nope")
    assert res.returncode == 2 and "Error: --from 'nope': no stage of that name" in res.stderr


def test_dry_run_prints_commands_and_runs_nothing(tmp_path):
    pipe = _write(tmp_path, COLLECTS)
    res = distill("run", pipe, "--dry-run", "--run-dir", tmp_path / "other")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0] == f"run   1/2 collect: distill collect {GSM8K} -o {tmp_path}/other/collect --domain math " \
                       "--rows-per-shard 10"
    assert lines[1].endswith("--no-streaming")
    assert not (tmp_path / "other").exists() and not (tmp_path / "run").exists()


def test_run_dir_override_writes_elsewhere(tmp_path):
    pipe = _write(tmp_path, COLLECTS)
    res = distill("run", pipe, "--run-dir", tmp_path / "other", "-q")
    assert res.returncode == 0, res.stderr
    assert res.stderr == "" and res.stdout == ""
    assert _manifest(tmp_path / "other" / "math")["complete"] and not (tmp_path / "run").exists()


def test_relative_paths_resolve_against_the_current_directory(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "q.jsonl").write_text(MATH.read_text())
    (tmp_path / "p.yaml").write_text("run_dir: runs/rel\nstages:\n  - collect: {sources: data/q.jsonl}\n")
    res = distill("run", "p.yaml", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert _manifest(tmp_path / "runs" / "rel" / "collect")["complete"]


def test_bad_yaml_and_unknown_stage_exit_2_in_one_line(tmp_path):
    bad = _write(tmp_path, "stages:\n  - collect: {sources: [a.jsonl]\n  - verify\n", "bad.yaml")
    res = distill("run", bad)
    assert res.returncode == 2
    assert res.stderr.startswith(f"Error: {bad}: invalid YAML at line") and res.stderr.count("\n") == 1
    unknown = _write(tmp_path, f"stages:\n  - collect: {{sources: {GSM8K}}}\n  - verfy: {{}}\n", "u.yaml")
    res = distill("run", unknown)
    assert res.returncode == 2
    assert res.stderr.strip() == f"Error: {unknown}: stage 2: unknown stage 'verfy'; stages are collect, generate, " \
                                 "verify, filter, grade, select, compress, dedupe, score, export, report"
    assert not (tmp_path / "run").exists()  # nothing ran: the whole file is checked first
    res = distill("run", tmp_path / "missing.yaml")
    assert res.returncode == 2 and "missing.yaml: cannot read" in res.stderr


def test_failing_stage_stops_the_run_with_its_exit_code(tmp_path):
    pipe = _write(tmp_path, f"stages:\n  - collect: {{sources: {tmp_path}/nope.jsonl}}\n"
                            f"  - collect: {{name: math, sources: {MATH}}}\n")
    res = distill("run", pipe)
    assert res.returncode == 2
    assert "nope.jsonl: no such file" in res.stderr
    assert f"Error: {pipe}: stage 1 (collect) failed (exit 2)" in res.stderr
    assert not (tmp_path / "run" / "math").exists()


def _start(*args: str | Path) -> subprocess.Popen:
    """`distill run` as the leader of its own process group, so a kill reaches the stage and the engine too."""
    return subprocess.Popen([sys.executable, "-m", "distill_cli", "run", *map(str, args)], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _kill_group_when(proc: subprocess.Popen, ready, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while not ready():
        assert proc.poll() is None, f"run ended before the kill point: {proc.stderr.read()}"
        assert time.monotonic() < deadline, "kill point never reached"
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    proc.stderr.close()
    for _ in range(200):  # every process of the group (stage, engine core, verify workers) is gone
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise AssertionError("processes of the killed run are still alive")


def _export(path: Path) -> list[str]:
    return sorted(path.read_text().splitlines())


PROMPTS = 3  # real GSM8K prompts of the killed run: with n 2, 6 answers, one at a time, checkpointed 2 by 2
SAMPLES = 2 * (PROMPTS + 1)  # and the too-long prompt's 2 error rows


def _prompts(tmp_path: Path) -> Path:
    """3 real GSM8K prompts, then one far longer than max_model_len (its 2 samples are error rows, not a crash)."""
    story = " ".join(f"On day {i} Janet's ducks laid {i % 17} eggs, she sold {i % 5}." for i in range(70))
    src = tmp_path / "gsm8k.jsonl"
    src.write_text("".join(GSM8K.read_text().splitlines(keepends=True)[:PROMPTS])
                   + json.dumps({"question": story + " How many eggs are left?", "answer": "#### 0"}) + "\n")
    return src


SMALL = """stages:
  - collect: {{sources: [{src}], domain: math}}
  - generate: {{model: tiny, n: 2, temperature: 0, max_tokens: 32, seed: 0, dtype: float32, enforce_eager: true,
                max_model_len: 512, checkpoint_every: 2, max_num_seqs: 1,
                system_prompt: "You are a helpful assistant."}}
  - verify: {{workers: 1}}
  - grade: {{}}
  - select: {{correct_only: false}}
  - dedupe: {{exact: true}}
  - export: {{format: sft, allow_incorrect: true, output: "{{run_dir}}/sft.jsonl"}}
"""


def _answer_saved(gen: Path) -> bool:
    """A checkpoint chunk of generate holds a sample that is not an error row."""
    for chunk in gen.glob("_work/part-*/chunk-*.parquet"):
        with contextlib.suppress(OSError, pl.exceptions.PolarsError):  # a chunk being swept as the shard ends
            if pl.read_parquet(chunk, columns=["error"])["error"].is_null().any():
                return True
    return False


def _generate_checks(gen: Path, kept: set[str]) -> pl.DataFrame:
    """What the offline engine's generate stage wrote after its resume: whole rows, error rows, its own counts.
    (Was tests/integration/test_generate_vllm.py, which paid two more engine starts for a kill and resume.)"""
    df = pl.read_parquet(gen / "part-00000.parquet")
    assert df.height == SAMPLES and df.select("id", "sample").n_unique() == SAMPLES and set(df["sample"]) == {0, 1}
    assert kept <= set(df["request_key"])
    st = json.loads((gen / "_stats.json").read_text())
    assert st["requests_sent"] == SAMPLES - len(kept) and st["resumed"] == len(kept)  # exactly the missing requests
    assert not (gen / "_work").exists() and _manifest(gen)["complete"]
    ok, bad = df.filter(pl.col("error").is_null()), df.filter(pl.col("error").is_not_null())
    # the prompt longer than the context is two error rows, not a crash and not a silent empty trace
    assert bad.height == 2 and set(bad["finish_reason"]) == {"error"} and bad["prompt"][0].startswith("On day 0")
    assert bad["error"].str.contains("512").all() and (bad["response"] == "").all()
    assert ok.height == SAMPLES - 2 and set(ok["finish_reason"]) <= {"stop", "length"}
    assert (ok["completion_tokens"] > 0).all() and (ok["completion_tokens"] <= 32).all()
    assert (ok["prompt_tokens"] > 20).all() and (ok["completion"].str.len_chars() > 20).all()
    assert (ok["response"] == ok["completion"].str.strip_chars()).all() and ok["reasoning"].is_null().all()
    assert set(df["model"]) == {"smollm2-135m-instruct"} and set(df["seed"]) == {0}
    assert json.loads(df["gen_params"][0])["dtype"] == "float32"
    assert st["errors"] == 2 and st["tokens"]["completion"] == ok["completion_tokens"].sum()
    # the offline engine's own counts: cached prompt tokens from vLLM, reasoning tokens by the tokenizer (none here)
    assert ok["cached_tokens"].is_not_null().all() and (ok["cached_tokens"] <= ok["prompt_tokens"]).all()
    assert (ok["reasoning_tokens"] == 0).all() and st["tokens"]["cached"] == ok["cached_tokens"].sum()
    assert st["cost"]["usd"] is None and "local engine" in st["cost"]["note"]  # no price: tokens only, no failure
    assert st["tokens_per_s"] > 0
    return df


@pytest.mark.vllm
@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_killed_pipeline_resumes_to_the_same_export(tmp_path):
    """Issue 8: SIGKILL the whole run mid-generate and again after generate, re-run: same export as no kill.

    Three engine starts: the uninterrupted run, the run killed inside generate, and its resume of generate (the
    last re-run finds generate complete and skips it). Greedy sampling makes the teacher's output deterministic, and
    one sequence at a time (max_num_seqs 1) makes it independent of which requests a resumed run batches together.
    The resumed generate stage is also checked on its own: it sent exactly the requests missing after the kill, its
    rows are whole, the too-long prompt is two error rows, and a finished stage re-run starts no engine.
    """
    pipe = _write(tmp_path, SMALL.format(src=_prompts(tmp_path)))
    whole = distill("run", pipe, "--run-dir", tmp_path / "whole", timeout=900)
    assert whole.returncode == 0, whole.stderr
    expected = _export(tmp_path / "whole" / "sft.jsonl")
    # the answered samples (what the too-long prompt's two error rows become in an export is not this test's)
    assert sum(1 for line in expected if json.loads(line)["messages"][-1]["content"]) == SAMPLES - 2

    run = tmp_path / "killed"
    gen = run / "generate"
    dry = distill("run", pipe, "--run-dir", run, "--from", "generate", "--to", "generate", "--dry-run")
    command = dry.stdout.splitlines()[0].split(": ", 1)[1]  # the generate command the run starts
    assert dry.returncode == 0 and command.startswith("distill generate "), dry.stdout
    # Kill once generate has saved a checkpoint chunk holding an answer (the too-long prompt's error rows can come
    # first): one shard, one sequence at a time, so the chunks stay on disk until all samples are done (a part
    # file would mean the kill came too late).
    _kill_group_when(_start(pipe, "--run-dir", run), lambda: _answer_saved(gen) or any(gen.glob("part-*.parquet")))
    assert not _manifest(gen)["complete"] and not any(gen.glob("part-*.parquet"))
    saved = pl.concat([pl.read_parquet(f) for f in sorted(gen.glob("_work/part-*/chunk-*.parquet"))],
                      how="diagonal_relaxed").unique(["id", "sample"])
    assert 0 < saved.height < SAMPLES
    kept = set(saved.filter(pl.col("error").is_null())["request_key"])  # failed rows are retried, not kept
    assert kept

    _kill_group_when(_start(pipe, "--run-dir", run), lambda: (run / "verify").exists())
    assert _manifest(gen)["complete"]
    traces = _generate_checks(gen, kept)
    final = distill("run", pipe, "--run-dir", run, timeout=900)
    assert final.returncode == 0, final.stderr
    assert "skip  2/7 generate: complete" in final.stderr  # no third engine start
    assert _export(run / "sft.jsonl") == expected
    # every sample saved before the kill is in the final traces unchanged: nothing paid for was generated twice
    kept_rows = saved.select("id", "sample", "completion").join(traces.select("id", "sample", "completion"),
                                                                on=["id", "sample"], how="left", suffix="_final")
    assert kept_rows["completion"].to_list() == kept_rows["completion_final"].to_list()

    # the generate stage run again by itself on its finished directory: nothing to do, no engine started
    again = distill(*shlex.split(command)[1:])
    assert again.returncode == 0 and "sent 0 requests" in again.stderr, again.stderr
    assert pl.read_parquet(gen / "part-00000.parquet").equals(traces)


@pytest.mark.slow
def test_sigterm_to_run_stops_the_running_stage_too(tmp_path):
    n = 6000  # enough rows that verify is still busy when the signal comes
    traces = tmp_path / "big.parquet"
    pl.DataFrame({"id": [f"{i:05x}" for i in range(n)], "prompt": ["p"] * n, "answer": [str(i) for i in range(n)],
                  "domain": ["math"] * n, "response": [f"\\boxed{{\\frac{{{i}}}{{{i % 7 + 1}}}}}" for i in range(n)],
                  "finish_reason": ["stop"] * n}).write_parquet(traces)
    pipe = _write(tmp_path, f"stages:\n  - verify: {{input: {traces}, workers: 1}}\n  - grade: {{}}\n")
    proc = _start(pipe)
    deadline = time.monotonic() + 60
    while not (tmp_path / "run" / "verify" / "_manifest.json").exists():
        assert proc.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGTERM)  # to `distill run` alone, as a scheduler's cancel would
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    err = proc.stderr.read()
    assert "stage 1 (verify) was stopped by signal 15; re-run" in err
    for _ in range(100):  # the stage and its workers are gone too
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    else:
        raise AssertionError("stage processes outlived `distill run`")
    assert not (tmp_path / "run" / "grade").exists()
