"""collect reads what people have on disk into the same prompts as the JSON lines it came from.

Each source kind is made from the bundled MATH-500 file the way people end up with it: a hub snapshot directory,
a glob over its shards, `datasets` save_to_disk (a Dataset, and a DatasetDict picked with --split), the .arrow
file inside one, and compressed JSON lines / JSON. collect must give the same rows (ids, prompts, answers, meta,
source name, order) as it gives for the plain .jsonl.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import polars as pl
import pyarrow as pa
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from distill_cli.cli import app
from distill_cli.errors import BadInput
from tests.support.cli import BENCHMARKS, distill

JSONL = BENCHMARKS / "math500_test.jsonl"
NAME = "math500_test"  # every source below is named so that the `source` column matches too

README = """---
configs:
- config_name: default
  data_files:
  - split: test
    path: data/test-*
---
# MATH-500 (a hub snapshot's dataset card)
"""


def _collect(tmp_path: Path, source: str, *extra: str) -> pl.DataFrame:
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["collect", source, "-o", str(out), "-q", *extra])
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    assert res.exit_code == 0, res.output
    return pl.concat([pl.read_parquet(p) for p in sorted(out.glob("part-*.parquet"))])


def _snapshot(root: Path, frame: pl.DataFrame) -> Path:
    data = root / "snapshot" / NAME / "data"
    data.mkdir(parents=True)
    (data.parent / "README.md").write_text(README)
    (data.parent / ".gitattributes").write_text("*.parquet filter=lfs diff=lfs merge=lfs -text\n")
    frame.write_parquet(data / "test-00000-of-00001.parquet")
    return data.parent


def _glob(root: Path, frame: pl.DataFrame) -> str:
    data = root / "glob" / NAME / "data"
    data.mkdir(parents=True)
    half = frame.height // 2
    frame.head(half).write_parquet(data / "train-00000-of-00002.parquet")
    frame.slice(half).write_parquet(data / "train-00001-of-00002.parquet")
    return str(data / "*.parquet")


def _saved(root: Path) -> tuple[Path, Path]:
    import datasets

    ds = datasets.load_dataset("json", data_files=str(JSONL), split="train", cache_dir=str(root / "hf-cache"))
    ds.save_to_disk(str(root / "saved" / NAME))
    datasets.DatasetDict({"train": ds.select(range(7)), "test": ds}).save_to_disk(str(root / "dict" / NAME))
    return root / "saved" / NAME, root / "dict" / NAME


def _compressed(root: Path) -> dict[str, Path]:
    raw = JSONL.read_bytes()
    out = {kind: root / kind / f"{NAME}.{kind}" for kind in ("jsonl.gz", "jsonl.zst", "json.gz")}
    for path in out.values():
        path.parent.mkdir()
    out["jsonl.gz"].write_bytes(gzip.compress(raw))
    with pa.CompressedOutputStream(str(out["jsonl.zst"]), "zstd") as stream:
        stream.write(raw)
    rows = [json.loads(line) for line in raw.decode().splitlines()]
    out["json.gz"].write_bytes(gzip.compress(json.dumps(rows).encode()))
    return out


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, tuple[str, ...]]:
    root = tmp_path_factory.mktemp("sources")
    frame = pl.read_ndjson(JSONL)
    saved, saved_dict = _saved(root)
    arrow = sorted(saved.glob("*.arrow"))
    assert len(arrow) == 1
    packed = _compressed(root)
    return {
        "hub snapshot directory": (str(_snapshot(root, frame)),),
        "glob of parquet shards": (_glob(root, frame),),
        "save_to_disk Dataset": (str(saved),),
        "save_to_disk DatasetDict --split test": (str(saved_dict), "--split", "test"),
        "arrow file": (str(arrow[0]),),
        **{kind: (str(path),) for kind, path in packed.items()},
    }


KINDS = ["hub snapshot directory", "glob of parquet shards", "save_to_disk Dataset",
         "save_to_disk DatasetDict --split test", "arrow file", "jsonl.gz", "jsonl.zst", "json.gz"]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> pl.DataFrame:
    return _collect(tmp_path_factory.mktemp("ref"), str(JSONL))


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_each_source_kind_gives_the_prompts_of_the_jsonl(sources, reference, tmp_path, kind):
    got = _collect(tmp_path, *sources[kind])
    assert reference.height == 500 and reference["meta"].null_count() == 0
    assert_frame_equal(got, reference)


def test_a_datasetdict_without_split_names_its_splits(sources, tmp_path):
    res = distill("collect", sources["save_to_disk DatasetDict --split test"][0], "-o", tmp_path / "out")
    assert res.returncode == 2 and res.stderr.count("\n") == 1, res.stderr
    assert "holds the splits train, test; choose one with --split" in res.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("make", "message"), [
    (lambda d: (d / "notes.txt").write_text("hi") and d / "notes.txt",
     "notes.txt: a file of a kind collect does not read ('.txt'); it reads JSON lines"),
    (lambda d: (d / "docs").mkdir() or (d / "docs" / "a.md").write_text("x") and d / "docs",
     "docs: a directory without data files collect can read (it holds a.md)"),
    (lambda d: (d / "x.jsonl.gz").write_bytes(b"not gzip at all") and d / "x.jsonl.gz",
     "x.jsonl.gz: not readable as gzip-compressed data"),
    (lambda d: d / "data" / "*.parquet", "data/*.parquet: the pattern matches no files"),
])
def test_a_path_that_exists_but_cannot_be_read_says_what_it_is(tmp_path, make, message):
    res = CliRunner().invoke(app, ["collect", str(make(tmp_path)), "-o", str(tmp_path / "out")])
    assert isinstance(res.exception, BadInput), repr(res.exception)  # the CLI prints it as one `Error:` line
    assert message in str(res.exception) and "no such file" not in str(res.exception)
    assert not (tmp_path / "out").exists()


def test_a_glob_over_files_of_different_columns_reads_each_by_its_own(tmp_path):
    """GSM8K (question/answer with ####) and MATH-500 (problem/answer) in one glob: each file's fields."""
    names = ("gsm8k_test.jsonl", "math500_test.jsonl")
    for name in names:
        (tmp_path / name).write_bytes((BENCHMARKS / name).read_bytes())
        (tmp_path / f"out-{name}").mkdir()
    got = _collect(tmp_path, str(tmp_path / "*_test.jsonl"))
    apart = pl.concat([_collect(tmp_path / f"out-{name}", str(BENCHMARKS / name)) for name in names])
    assert got.height == apart.height == 1319 + 500
    assert_frame_equal(got.drop("source"), apart.drop("source"))
    assert got["source"].unique().to_list() == [tmp_path.name]  # the directory: the stems share no word


@pytest.mark.parametrize(("spec", "name"), [
    ("{b}/gsm8k_test.jsonl", "gsm8k_test"),
    ("{b}/aime2025_*.jsonl", "aime2025"),  # aime2025_I and aime2025_II
    ("{t}/math500_test/data/test-00000-of-00001.parquet", "math500_test"),
    ("{t}/math500_test/data/*.parquet", "math500_test"),
    ("{t}/math500_test.jsonl.zst", "math500_test"),
])
def test_source_names(tmp_path, spec, name):
    from distill_cli.stages.collect.sources import source_name

    data = tmp_path / "math500_test" / "data"
    data.mkdir(parents=True)
    (data / "test-00000-of-00001.parquet").write_bytes(b"")
    assert source_name(spec.format(b=BENCHMARKS, t=tmp_path)) == name
