"""distill export end to end: files that datasets, TRL-shaped readers and a real chat template accept."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parents[1] / "stages"))
from fake_run import make_run  # noqa: E402

from distill_cli.cli import app  # noqa: E402
from distill_cli.errors import BadInput  # noqa: E402

DISTILL = str(Path(sys.executable).with_name("distill"))


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("run"))


def export(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([DISTILL, "export", *args], capture_output=True, text=True, timeout=120)


def invoke(*args: str):
    return CliRunner().invoke(app, ["export", *args])


def rows_of(path: Path) -> int:
    return pl.scan_parquet(sorted(path.glob("part-*.parquet"))).select(pl.len()).collect().item()


def tokenizer():
    """SmolLM2's tokenizer: from the built demo model when there is one, else straight from the GGUF file."""
    from transformers import AutoTokenizer

    from distill_cli.model import gguf_path, is_built, tiny_model_dir

    if is_built(tiny_model_dir()):
        return AutoTokenizer.from_pretrained(str(tiny_model_dir()))
    gguf = gguf_path()
    return AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)


@pytest.mark.slow
def test_sft_jsonl_loads_with_datasets_and_renders_with_the_chat_template(fake, tmp_path):
    out = tmp_path / "sft.jsonl"
    res = invoke(str(fake.deduped), "-o", str(out), "--system", "Think step by step.")
    assert res.exit_code == 0, res.output
    assert f"export: {rows_of(fake.deduped)} SFT records" in res.output

    from datasets import load_dataset

    ds = load_dataset("json", data_files=str(out), split="train", cache_dir=str(tmp_path / "cache"))
    assert ds.num_rows == rows_of(fake.deduped)
    first = ds[0]["messages"]
    assert [m["role"] for m in first] == ["system", "user", "assistant"]
    rendered = tokenizer().apply_chat_template(first, tokenize=False)
    assert "<|im_start|>system\nThink step by step.<|im_end|>" in rendered
    assert f"<|im_start|>assistant\n{first[2]['content']}<|im_end|>" in rendered
    assert first[2]["content"].startswith("<think>\n") and "\n</think>\n\nThe answer is" in first[2]["content"]
    assert (tmp_path / "sft.card.md").read_text().startswith("---\ntags: [distill, reasoning-traces, sft]")


def test_dpo_jsonl_has_trl_columns_and_shapes(fake, tmp_path):
    out = tmp_path / "dpo.jsonl"
    res = invoke(str(fake.pairs), "-o", str(out), "--format", "dpo", "-q")
    assert res.exit_code == 0, res.output
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == rows_of(fake.pairs) // 2
    for rec in records:
        assert {"prompt", "chosen", "rejected"} <= set(rec)
        assert [m["role"] for m in rec["prompt"]] == ["user"]
        assert [m["role"] for m in rec["chosen"]] == ["assistant"] == [m["role"] for m in rec["rejected"]]
        assert rec["chosen"][0]["content"] != rec["rejected"][0]["content"]
    pairs = pl.read_parquet(sorted(fake.pairs.glob("part-*.parquet")))
    chosen = pairs.filter(pl.col("pair_role") == "chosen")
    assert set(chosen["verdict"]) == {"correct"}
    assert records[0]["chosen"][0]["content"].endswith(chosen["response"][0])

    std = tmp_path / "dpo_std.jsonl"
    assert invoke(str(fake.pairs), "-o", str(std), "--format", "dpo", "--dpo-style", "standard", "--no-meta",
                  "-q").exit_code == 0
    rec = json.loads(std.read_text().splitlines()[0])
    assert list(rec) == ["prompt", "chosen", "rejected"] and all(isinstance(v, str) for v in rec.values())


def test_sharegpt_and_alpaca_files(fake, tmp_path):
    share, alpaca = tmp_path / "share.jsonl", tmp_path / "alpaca.jsonl"
    assert invoke(str(fake.deduped), "-o", str(share), "--style", "sharegpt", "-q").exit_code == 0
    assert invoke(str(fake.deduped), "-o", str(alpaca), "--style", "alpaca", "--think-tags",
                  "<reasoning>,</reasoning>", "-q").exit_code == 0
    conv = json.loads(share.read_text().splitlines()[0])["conversations"]
    assert [t["from"] for t in conv] == ["human", "gpt"] and set(conv[0]) == {"from", "value"}
    row = json.loads(alpaca.read_text().splitlines()[0])
    assert row["input"] == "" and row["output"].startswith("<reasoning>\n") and row["instruction"]


def test_parquet_and_save_to_disk_round_trip(fake, tmp_path):
    from datasets import load_from_disk

    pq, folder = tmp_path / "sft.parquet", tmp_path / "sft_ds"
    assert invoke(str(fake.deduped), "-o", str(pq), "--reasoning-field", "-q").exit_code == 0
    assert invoke(str(fake.deduped), "-o", str(folder), "-q").exit_code == 0
    from_pq = pl.read_parquet(pq)
    ds = load_from_disk(str(folder))
    assert from_pq.height == ds.num_rows == rows_of(fake.deduped)
    assert from_pq["messages"][0][-1]["reasoning_content"]  # the reasoning in its own field
    assert ds[0]["messages"][-1]["content"].startswith("<think>")
    assert ds[0]["id"] == from_pq["id"][0]
    assert (folder / "README.md").read_text().count("## ") >= 6
    hidden = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("."))
    assert hidden == [".sft.parquet.distill.json", ".sft_ds.distill.json"]  # resume stamps only, no temp leftovers
    # the same export again is already done; another one needs --overwrite, and then replaces the directory whole
    before = (folder / "state.json").stat().st_mtime_ns
    assert invoke(str(fake.deduped), "-o", str(folder), "-q").exit_code == 0
    assert (folder / "state.json").stat().st_mtime_ns == before
    assert isinstance(invoke(str(fake.deduped), "-o", str(folder), "--limit", "3", "-q").exception, BadInput)
    assert invoke(str(fake.deduped), "-o", str(folder), "--limit", "3", "--overwrite", "-q").exit_code == 0
    assert load_from_disk(str(folder)).num_rows == 3


def test_rerun_after_a_kill_between_data_and_card_finishes_the_card(fake, tmp_path):
    out = tmp_path / "sft.jsonl"
    assert invoke(str(fake.deduped), "-o", str(out), "-q").exit_code == 0
    card = tmp_path / "sft.card.md"
    text = card.read_text()
    card.unlink()  # as if killed after the data and its stamp were written
    data = out.read_bytes()
    assert invoke(str(fake.deduped), "-o", str(out), "-q").exit_code == 0
    assert card.read_text() == text and out.read_bytes() == data
    out.write_text('{"not": "ours"}\n')  # a file the stamp does not describe is never taken for the export
    (tmp_path / ".sft.jsonl.distill.json").unlink()
    assert isinstance(invoke(str(fake.deduped), "-o", str(out), "-q").exception, BadInput)


def test_hub_target_pushes_the_datasetdict_then_the_card_as_readme(fake, tmp_path, monkeypatch):
    """No network here: record the two calls that need the hub (the data push, the card upload) instead."""
    import datasets
    import huggingface_hub

    calls, uploads = [], []
    monkeypatch.setattr(datasets.DatasetDict, "push_to_hub",
                        lambda self, repo, **kw: calls.append((self, repo, kw)), raising=True)
    monkeypatch.setattr(huggingface_hub.HfApi, "upload_file", lambda self, **kw: uploads.append(kw), raising=True)
    monkeypatch.chdir(tmp_path)
    res = invoke(str(fake.deduped), "-o", "hf:me/traces", "-q")
    assert res.exit_code == 0, res.output
    (ddict, repo, kwargs), = calls
    assert repo == "me/traces" and kwargs == {"private": True}
    assert list(ddict) == ["train"] and ddict["train"].num_rows == rows_of(fake.deduped)
    (upload,) = uploads
    assert {k: upload[k] for k in ("path_in_repo", "repo_id", "repo_type")} == {
        "path_in_repo": "README.md", "repo_id": "me/traces", "repo_type": "dataset"}
    local = (tmp_path / "traces.card.md").read_text()
    assert upload["path_or_fileobj"].decode() == local and local.startswith("---\ntags: [distill")
    invoke(str(fake.deduped), "-o", "hf:me/traces", "--public", "-q")
    assert calls[1][2] == {"private": False}


def test_a_prompts_directory_is_refused_in_one_line(fake, tmp_path):
    res = export(str(fake.prompts), "-o", str(tmp_path / "x.jsonl"))
    assert res.returncode == 2
    assert res.stderr.startswith("Error: ") and res.stderr.count("\n") == 1
    assert "missing column 'response'" in res.stderr and "collect" in res.stderr
    assert list(tmp_path.iterdir()) == []


def main_cli(capsys, monkeypatch, *args: str) -> tuple[int, str]:
    """The real entry point in-process (its error handling included), cheaper than a subprocess per case."""
    from distill_cli.cli import main

    monkeypatch.setattr(sys, "argv", ["distill", "export", *args])
    with pytest.raises(SystemExit) as exc:
        main()
    return exc.value.code, capsys.readouterr().err


def test_bad_options_give_one_line_errors_and_write_nothing(fake, tmp_path, capsys, monkeypatch):
    out = str(tmp_path / "x.jsonl")
    cases = [([str(fake.verified)], "27 of 48 rows are not correct"),
             ([str(fake.deduped), "--format", "dpo"], "select --pairs"),
             ([str(fake.deduped), "--format", "kto"], "--format 'kto'"),
             ([str(fake.deduped), "--think-tags", "x"], "--think-tags"),
             ([str(fake.deduped), "--allow-incorrect", "--drop-incorrect"], "contradict"),
             ([str(fake.deduped), "--style", "alpaca", "--reasoning-field"], "--reasoning-field"),
             ([str(tmp_path / "missing")], "no such file")]
    for args, message in cases:
        code, err = main_cli(capsys, monkeypatch, args[0], "-o", out, *args[1:])
        assert code == 2 and err.startswith("Error: ") and err.count("\n") == 1 and message in err, (args, err)
    code, err = main_cli(capsys, monkeypatch, str(fake.deduped), "-o", str(tmp_path / "x.json"))
    assert code == 2 and ".json is not an export target" in err
    assert list(tmp_path.iterdir()) == []


def test_drop_and_allow_incorrect(fake, tmp_path, capsys, monkeypatch):
    dropped, allowed = tmp_path / "d.jsonl", tmp_path / "a.jsonl"
    code, err = main_cli(capsys, monkeypatch, str(fake.verified), "-o", str(dropped), "--drop-incorrect")
    assert code == 0 and "dropped not correct: incorrect 17, no_answer 10" in " ".join(err.split())
    code, err = main_cli(capsys, monkeypatch, str(fake.verified), "-o", str(allowed), "--allow-incorrect")
    assert code == 0 and "kept not correct" in err
    assert len(dropped.read_text().splitlines()) == 21 and len(allowed.read_text().splitlines()) == 48
    assert "| dropped not correct | incorrect: 17, no_answer: 10 |" in (tmp_path / "d.card.md").read_text()


@pytest.mark.parametrize("suffix", ["jsonl", "parquet"])
def test_records_written_a_batch_at_a_time_equal_the_whole_input_at_once(tmp_path, suffix):
    """12,000 rows over 3 files (batches of 5,000 cross the files): --drop-incorrect and --limit give the records
    the one-frame core gives, in input order."""
    from distill_cli.stages.export.core import ExportConfig, sft_frame

    src = tmp_path / "in"
    src.mkdir()
    for k in range(3):
        i = range(k * 4000, (k + 1) * 4000)
        pl.DataFrame({"id": [f"{n:06x}" for n in i], "prompt": [f"p{n}" for n in i], "sample": 0,
                      "reasoning": [f"r{n}" for n in i], "response": [f"a{n}" for n in i],
                      "verdict": ["correct" if n % 3 else "incorrect" for n in i]}).write_parquet(src / f"{k}.parquet")
    out = tmp_path / f"sft.{suffix}"
    assert invoke(str(src), "-o", str(out), "--drop-incorrect", "--limit", "7000", "-q").exit_code == 0
    got = pl.read_ndjson(out) if suffix == "jsonl" else pl.read_parquet(out)
    records, _, _ = sft_frame(pl.scan_parquet(src / "*.parquet"), ExportConfig(incorrect="drop", limit=7000))
    want = records.collect()
    assert got.height == 7000 and got.to_dicts() == want.to_dicts()
