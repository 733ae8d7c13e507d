"""distill report end to end: a self-contained page whose embedded images are the real PNGs written beside it."""

from __future__ import annotations

import base64
import re
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).parents[1] / "stages"))
from fake_run import make_run  # noqa: E402

from distill_cli.cli import app  # noqa: E402
from distill_cli.report import plots  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def fake(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("run"))


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, after checking the signature and that IHDR comes first."""
    assert data[:8] == PNG and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_report_writes_a_self_contained_page_and_the_pngs(fake, tmp_path):
    out = tmp_path / "rep"
    res = CliRunner().invoke(app, ["report", str(fake.root), "-o", str(out)])
    assert res.exit_code == 0, res.output
    page = (out / "report.html").read_text()
    names = {p.stem for p in out.glob("*.png")}
    assert names == {"funnel", "verdicts", "pass_rate", "difficulty", "tokens", "compression", "dedupe"}
    embedded = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(embedded) == len(names)
    on_disk = {(out / f"{n}.png").read_bytes() for n in names}
    assert {base64.b64decode(e) for e in embedded} == on_disk  # the page embeds exactly the files beside it
    width, height = int(plots.SIZE[0] * plots.DPI), int(plots.SIZE[1] * plots.DPI)
    for data in on_disk:
        assert png_size(data) == (width, height)
    assert "http" not in page.replace("http-equiv", "")  # nothing fetched from elsewhere
    assert "Every pipeline stage is present." in page
    assert "math500" in page and "teacher-a" in page
    # the terminal summary: one row per stage directory
    for name in ("prompts", "traces", "verified", "graded", "selected", "compressed", "deduped"):
        assert name in res.output
    assert "correct 21/48 (44%)" in res.output and "report.html (7 figures" in " ".join(res.output.split())


def test_partial_run_says_which_stages_exist_and_skips_their_figures(fake, tmp_path):
    run = tmp_path / "run"
    for name in ("prompts", "verified"):
        shutil.copytree(fake.root / name, run / name)
    res = CliRunner().invoke(app, ["report", str(run)])
    assert res.exit_code == 0, res.output
    out = run / "report"
    assert {p.stem for p in out.glob("*.png")} == {"funnel", "verdicts", "pass_rate", "tokens"}
    page = (out / "report.html").read_text()
    assert "Not in this run: generate, grade, select, compress, dedupe." in page
    assert "not in this run: generate, grade, select, compress, dedupe" in res.output
    # a second report replaces the first whole
    shutil.copytree(fake.root / "graded", run / "graded")
    assert CliRunner().invoke(app, ["report", str(run), "-q"]).exit_code == 0
    assert "difficulty" in {p.stem for p in out.glob("*.png")}
    assert not [p for p in run.iterdir() if p.name.startswith(".")]


def test_a_run_ending_in_export_reports_the_export(fake, tmp_path):
    run = tmp_path / "run"
    for name in ("prompts", "verified", "deduped"):
        shutil.copytree(fake.root / name, run / name)
    sft = run / "sft.jsonl"  # where `distill run` puts a last `- export:` step by default
    exported = CliRunner().invoke(app, ["export", str(run / "deduped"), "-o", str(sft), "--drop-incorrect", "-q"])
    assert exported.exit_code == 0, exported.output
    records = len(sft.read_text().splitlines())
    assert records > 0
    res = CliRunner().invoke(app, ["report", str(run)])
    assert res.exit_code == 0, res.output
    said = " ".join(res.output.split())
    assert (f"export: {sft}: {records} SFT records (messages) from {run / 'deduped'}; card {run / 'sft.card.md'}"
            in said)
    page = (run / "report" / "report.html").read_text()
    row = f'<td>{sft}</td><td>sft</td><td>messages</td><td class="n">{records}</td>'
    assert "<h2>Exports</h2>" in page and row in page


def test_bad_run_dirs_exit_2_with_one_line(tmp_path):
    distill = str(Path(sys.executable).with_name("distill"))
    res = subprocess.run([distill, "report", str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and res.stderr.startswith("Error: ") and res.stderr.count("\n") == 1
    assert "no stage directories" in res.stderr
    assert not (tmp_path / "report").exists()
