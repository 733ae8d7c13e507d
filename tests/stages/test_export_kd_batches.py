"""export --format kd writes its records a batch of input rows at a time (memory bounded by a batch, issue 16):
the file equals the records of one plan over the whole input, across batch and file boundaries, with --limit."""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from support.cli import distill

from distill_cli.stagedir.inputs import open_input
from distill_cli.stages.export.core import ExportConfig, export_frame
from distill_cli.stages.export.run import KD_STREAM_ROWS


def _traces(path, n: int, start: int, k: int = 3, p: int = 4, t: int = 6) -> None:
    rng = np.random.default_rng(start)

    def lists(width, values):
        return pa.ListArray.from_arrays(pa.array(np.arange(0, n * width + 1, width, dtype=np.int32)), values)

    fixed = pa.FixedSizeListArray.from_arrays
    pq.write_table(pa.table({
        "id": [f"{start + i:06x}" for i in range(n)], "sample": pa.array([0] * n, pa.int64()),
        "model": ["teacher"] * n, "prompt": ["q"] * n, "response": ["a"] * n,
        "verdict": [["correct", "incorrect"][i % 7 == 0] for i in range(n)],
        "prompt_token_ids": lists(p, pa.array(rng.integers(0, 999, n * p, dtype=np.int32))),
        "token_ids": lists(t, pa.array(rng.integers(0, 999, n * t, dtype=np.int32))),
        "topk_ids": lists(t, fixed(pa.array(rng.integers(0, 999, n * t * k, dtype=np.int32)), k)),
        "topk_logprobs": lists(t, fixed(pa.array(-rng.random(n * t * k, dtype=np.float32)), k)),
    }), path)


def test_kd_export_in_batches_equals_one_plan(tmp_path):
    inp = tmp_path / "traces"
    inp.mkdir()
    _traces(inp / "part-00000.parquet", KD_STREAM_ROWS + 77, 0)
    _traces(inp / "part-00001.parquet", KD_STREAM_ROWS * 2 + 5, 10_000)
    for limit in (None, KD_STREAM_ROWS + 30):
        out = tmp_path / f"kd-{limit}.parquet"
        args = ["--limit", str(limit)] if limit else []
        res = distill("export", inp, "-o", out, "--format", "kd", "--drop-incorrect", *args)
        assert res.returncode == 0, res.stderr
        cfg = ExportConfig(format="kd", incorrect="drop", limit=limit)
        whole = export_frame(open_input(str(inp)).scan(), cfg, where=str(inp))[0].collect()
        got = pl.read_parquet(out)
        assert got.height == (limit or whole.height) and got.equals(whole)
