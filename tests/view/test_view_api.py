"""distill view over HTTP: the JSON API against polars on the same shards, escaping, refusals, read-only."""

from __future__ import annotations

import http.client
import json
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path
from urllib.error import HTTPError
from urllib.parse import urlencode, urlsplit

import polars as pl
import pytest
from view.conftest import start_viewer, stop
from view.viewrun import SCRIPT

pytestmark = pytest.mark.slow


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except HTTPError as exc:
        return exc.code, exc.read().decode()


def api(url: str) -> dict:
    status, body = get(url)
    assert status == 200, body
    return json.loads(body)


def raw_status(base: str, path: str) -> tuple[int, str]:
    """A request with the path sent exactly as written (urllib would not, browsers neither)."""
    where = urlsplit(base)
    conn = http.client.HTTPConnection(where.hostname, where.port, timeout=30)
    conn.request("GET", path)
    resp = conn.getresponse()
    return resp.status, resp.read().decode(errors="replace")


def frame(stage: Path) -> pl.DataFrame:
    return pl.read_parquet(sorted(stage.glob("part-*.parquet"))).with_row_index("row").cast({"row": pl.Int64})


def test_stages_list_every_stage_with_its_row_count(view_run, viewer_url):
    got = {s["name"]: s for s in api(viewer_url + "/api/stages")["stages"]}
    assert set(got) == {"prompts/math", "prompts/gsm", "traces", "verified", "graded", "compressed", "deduped"}
    for name, s in got.items():
        assert s["rows"] == frame(view_run.root / name).height
    removed = pl.read_parquet(view_run.deduped / "_duplicates.parquet").height
    assert got["deduped"]["removed"]["duplicates"] == removed > 0
    nested = api(f"{viewer_url}/api/stages/prompts%2Fmath/rows?limit=3")  # a stage two levels down
    assert nested["total"] == 6 and len(nested["rows"]) == 3


FILTERS = [
    ({"verdict": "incorrect"}, pl.col("verdict") == "incorrect"),
    ({"verdict": "correct,no_answer", "model": "teacher-b"},
     pl.col("verdict").is_in(["correct", "no_answer"]) & (pl.col("model") == "teacher-b")),
    ({"difficulty": "medium", "domain": "math"}, (pl.col("difficulty") == "medium") & (pl.col("domain") == "math")),
    ({"pass_min": "0.3", "pass_max": "0.7"}, pl.col("pass_rate").is_between(0.3, 0.7)),
    ({"len_min": "76", "len_max": "78"}, pl.col("completion_tokens").is_between(76, 78)),
    ({"q": "POLAR coordinates"}, pl.col("prompt").str.to_lowercase().str.contains("polar coordinates", literal=True)
     | pl.col("response").str.to_lowercase().str.contains("polar coordinates", literal=True)),
    ({"q": "F(-2) +f(-1)"}, pl.col("prompt").str.contains("f(-2) +f(-1)", literal=True)),  # regex characters
    ({"verdict": "nothing-has-this"}, pl.lit(False)),
]


@pytest.mark.parametrize("params,expected", FILTERS, ids=[urlencode(p) for p, _ in FILTERS])
def test_filters_return_exactly_the_matching_rows_and_total(view_run, viewer_url, params, expected):
    want = frame(view_run.graded).filter(expected)
    got = api(f"{viewer_url}/api/stages/graded/rows?{urlencode({**params, 'limit': 500})}")
    assert got["total"] == want.height
    assert [(r["row"], r["id"], r["model"], r["sample"]) for r in got["rows"]] == \
        list(want.select("row", "id", "model", "sample").iter_rows())
    if want.height:
        assert got["rows"][0]["verdict"] == want["verdict"][0]


def test_sort_and_paging_match_polars(view_run, viewer_url):
    df = frame(view_run.graded).sort("completion_tokens", "row", descending=True)
    want = df.filter(pl.col("verdict") != "correct").slice(5, 7)
    got = api(f"{viewer_url}/api/stages/graded/rows?verdict=incorrect,no_answer&sort=-length&offset=5&limit=7")
    assert [r["row"] for r in got["rows"]] == want["row"].to_list()
    assert [r["length"] for r in got["rows"]] == want["completion_tokens"].to_list()
    last = api(f"{viewer_url}/api/stages/graded/rows?offset={df.height - 2}&limit=10")
    assert [r["row"] for r in last["rows"]] == [df.height - 2, df.height - 1]


def test_bad_query_strings_are_400_with_a_reason(viewer_url):
    for query, word in (("limit=abc", "limit"), ("sort=prompt;drop", "sort"), ("offset=-1", "offset")):
        status, body = get(f"{viewer_url}/api/stages/graded/rows?{query}")
        assert status == 400 and word in json.loads(body)["error"]


def test_trace_page_shows_the_prompt_and_escapes_script(view_run, viewer_url):
    df = frame(view_run.graded).filter(pl.col("id") == view_run.script_id)
    status, page = get(f"{viewer_url}/stages/graded/rows/{view_run.script_id}?model=teacher-a&sample=1")
    assert status == 200
    prompt = df["prompt"][0]
    assert prompt.split("$")[0].strip() in page  # the prompt's text, before its first formula
    assert "&lt;script&gt;document.title=&quot;pwned&quot;&lt;/script&gt;" in page
    assert SCRIPT not in page
    for row in df.iter_rows(named=True):  # every sample of the prompt is listed with its verdict
        assert f"?model={row['model']}&amp;sample={row['sample']}" in page
    assert page.count("<tr") - 1 == df.height  # the samples table, one row per trace
    data = api(f"{viewer_url}/api/stages/graded/rows/{view_run.script_id}")
    assert [t["sample"] for t in data["traces"]] == df.sort("model", "sample")["sample"].to_list()
    assert SCRIPT not in get(f"{viewer_url}/api/stages/graded/rows/{view_run.script_id}")[1]  # '<' as \u003c
    assert any(SCRIPT in t["response"] for t in data["traces"])


def test_dedupe_cluster_of_a_removed_row(view_run, viewer_url):
    dup = pl.read_parquet(view_run.deduped / "_duplicates.parquet")
    gone = dup.filter(pl.col("id") != pl.col("kept_id")).row(0, named=True)
    data = api(f"{viewer_url}/api/stages/deduped/rows/{gone['id']}")
    removed = [t for t in data["traces"] if t["removed"]]
    assert {(t["model"], t["sample"]) for t in removed} >= {(gone["model"], gone["sample"])}
    mine = next(t for t in removed if (t["model"], t["sample"]) == (gone["model"], gone["sample"]))
    assert mine["removals"][0]["kind"] == "exact" and mine["removals"][0]["kept_id"] == gone["kept_id"]
    status, page = get(f"{viewer_url}/stages/deduped/rows/{gone['id']}?model={gone['model']}&sample={gone['sample']}")
    cluster = dup.filter(pl.col("kept_row") == gone["kept_row"])
    assert status == 200 and "exact duplicate" in page and f"/rows/{gone['kept_id']}" in page
    assert all(f"(row {r})" in page for r in cluster["row"])
    # the upstream stage's page says which later stage removed the trace
    status, page = get(f"{viewer_url}/stages/compressed/rows/{gone['id']}?model={gone['model']}"
                       f"&sample={gone['sample']}")
    assert status == 200 and "removed by deduped" in page
    contaminated = pl.read_parquet(view_run.deduped / "_contamination.parquet").row(0, named=True)
    status, page = get(f"{viewer_url}/stages/deduped/rows/{contaminated['id']}")
    assert status == 200 and "contamination: matches gsm8k" in page


def test_compression_diff(view_run, viewer_url):
    df = frame(view_run.compressed).filter(pl.col("compression") == "trim").row(0, named=True)
    status, page = get(f"{viewer_url}/stages/compressed/rows/{df['id']}?model={df['model']}&sample={df['sample']}")
    assert status == 200 and "<del>" in page and "strategy trim" in page
    assert "Let me verify once more" in page.split("<del>", 1)[1]  # the cut paragraph is shown as deleted


@pytest.mark.parametrize("path", [
    "/stages/../graded", "/stages/..%2F..%2Fetc/rows", "/api/stages/..%2Fgraded/rows",
    "/stages/graded/rows/..%2F..%2F_manifest.json", "/api/stages/graded/rows/..", "/static/../catalog.py",
    "/static/..%2F..%2Fcli%2F__init__.py", "/report/..%2F_manifest.json", "/stages/%2Fetc%2Fpasswd",
])
def test_paths_outside_the_run_are_refused(viewer_url, path):
    status, body = raw_status(viewer_url, path)
    assert status in (400, 404)
    assert '"complete"' not in body and "import" not in body and "root:" not in body


def test_unknown_stage_and_prompt_are_404(viewer_url):
    assert get(viewer_url + "/stages/nope")[0] == 404
    assert get(viewer_url + "/api/stages/graded/rows/0000000000000000")[0] == 404


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


def test_browsing_writes_nothing(view_run, viewer_url):
    before = _snapshot(view_run.root)
    pid = frame(view_run.graded)["id"][0]
    for path in ("/", "/api/stages", "/stages/graded", "/api/stages/graded/rows?q=x&sort=-pass_rate",
                 "/api/stages/graded/facets", f"/stages/graded/rows/{pid}", f"/stages/deduped/rows/{pid}"):
        assert get(viewer_url + path)[0] in (200, 404)
    where = urlsplit(viewer_url)
    for method in ("POST", "PUT", "DELETE"):
        conn = http.client.HTTPConnection(where.hostname, where.port, timeout=30)
        conn.request(method, "/api/stages/graded/rows", body=b"{}")
        assert conn.getresponse().status == 405
    assert _snapshot(view_run.root) == before


def test_cli_binds_loopback_and_warns_for_another_host(view_run):
    proc, url = start_viewer(view_run.graded)
    try:
        assert url.startswith("http://127.0.0.1:")
        assert api(url + "/api/stages")["stages"][0]["name"] == "graded"  # DIR can be one stage directory
    finally:
        stop(proc)
    proc, url = start_viewer(view_run.graded, "--host", "0.0.0.0")
    try:
        assert url.startswith("http://0.0.0.0:")
    finally:
        stop(proc)
        warning = proc.stderr.read()
    assert "listening on 0.0.0.0" in warning and "anyone" in warning


def test_cli_bad_directory_is_one_line_error(tmp_path):
    res = subprocess.run([sys.executable, "-m", "distill_cli", "view", str(tmp_path / "nope")],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2
    assert res.stderr.strip() == f"Error: {tmp_path / 'nope'}: no such directory"


def test_damaged_shards_are_reported_and_the_server_keeps_serving(view_run, tmp_path):
    run = tmp_path / "run"
    for name in ("graded", "verified"):
        shutil.copytree(view_run.root / name, run / name)
    shard = sorted((run / "verified").glob("part-*.parquet"))[0]
    shard.write_bytes(shard.read_bytes()[:200])  # damaged before the viewer starts
    (run / "report").mkdir()
    (run / "report" / "report.html").write_text("<html><body>the run's report</body></html>")
    proc, url = start_viewer(run)
    try:
        assert 'href="/report/report.html"' in get(url + "/")[1]  # the run page links the report, served as is
        assert get(url + "/report/report.html") == (200, "<html><body>the run's report</body></html>")
        listing = api(url + "/api/stages")
        assert [s["name"] for s in listing["stages"]] == ["graded"]
        assert "verified" in listing["unreadable"]
        assert "cannot be read" in get(url + "/")[1]
        graded = run / "graded" / "part-00000.parquet"
        graded.write_bytes(graded.read_bytes()[:300])  # damaged while it serves
        status, body = get(url + "/api/stages/graded/rows?verdict=incorrect")
        assert status == 500 and "cannot read" in json.loads(body)["error"]
        assert get(url + "/api/stages")[0] == 200
    finally:
        stop(proc)
    assert "Error: cannot read /api/stages/graded/rows" in proc.stderr.read()
