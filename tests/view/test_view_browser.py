"""distill view in a real browser: Debian's Chromium, headless, driven by Playwright's Python package.

One browser for the module. Set DISTILL_VIEW_SCREENSHOT=docs/img/view.png to also write the README's picture.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import polars as pl
import pytest

pytestmark = pytest.mark.slow

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install 'distill-cli[browser]'")
    if not Path(CHROMIUM).exists():
        pytest.skip("no /usr/bin/chromium (apt-get install chromium; `make setup` does)")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    yield page
    context.close()
    assert not errors, errors  # no script error and no resource the CSP or the server refused


def graded(view_run) -> pl.DataFrame:
    return pl.read_parquet(sorted(view_run.graded.glob("part-*.parquet")))


def test_filter_to_incorrect_open_one_and_read_the_math(view_run, viewer_url, page, tmp_path):
    df = graded(view_run)
    page.goto(f"{viewer_url}/stages/graded")
    page.wait_for_selector("#rows tbody tr")
    assert page.locator("#rows tbody tr").count() == 50 and page.is_disabled("#prev")
    page.click("#next")  # the server pages: the second page holds the rest
    page.wait_for_url("**offset=50*")
    page.wait_for_selector("#rows tbody tr")
    assert page.locator("#rows tbody td.c-row").all_inner_texts() == [str(i) for i in range(50, df.height)]
    page.wait_for_selector("select[name=verdict] option[value=incorrect]", state="attached")
    page.select_option("select[name=verdict]", "incorrect")
    page.click("form#filters button[type=submit]")
    page.wait_for_url("**/stages/graded?verdict=incorrect*")
    page.wait_for_selector("#rows tbody tr")
    verdicts = page.locator("#rows tbody td.verdict").all_inner_texts()
    assert verdicts == ["incorrect"] * (df["verdict"] == "incorrect").sum()
    assert page.inner_text("#status").startswith(f"{(df['verdict'] == 'incorrect').sum()} rows")

    first = page.locator("#rows tbody tr").first
    pid, model, sample = (first.locator(f"td.c-{c}").inner_text() for c in ("id", "model", "sample"))
    first.locator("td.c-id a").click()
    page.wait_for_selector("body[data-ready='1']")
    assert page.url.endswith(f"/stages/graded/rows/{pid}?model={model}&sample={sample}")
    prompt = df.filter(pl.col("id") == pid)["prompt"][0]
    assert prompt.split("$")[0].strip() in page.inner_text("#prompt")
    # LaTeX rendered by KaTeX: formulas of the MATH-500 prompt and the boxed answer are KaTeX DOM, not dollars
    assert page.locator("#prompt .katex").count() >= prompt.count("$") // 2 > 0
    assert "$" not in page.inner_text("#prompt")
    assert page.locator("#trace .response .katex .fbox").count() >= 1
    assert page.locator("#trace .response mark.answer .katex").count() == 1
    assert page.inner_text("#trace .verdict").strip() == "incorrect"
    # the other samples of the same prompt, with their verdicts
    rows = page.locator("#samples tbody tr")
    same = df.filter(pl.col("id") == pid).sort("model", "sample")
    assert rows.count() == same.height
    assert [v.strip() for v in page.locator("#samples tbody .verdict").all_inner_texts()] == same["verdict"].to_list()
    assert page.locator("#samples tr.current").inner_text().startswith(f"{model} #{sample}")
    page.click("#reasoning summary")
    assert page.locator("#reasoning .katex").count() > 0
    shot = tmp_path / "trace.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    if os.environ.get("DISTILL_VIEW_SCREENSHOT"):  # the README's picture: small, the top of the page
        target = Path(os.environ["DISTILL_VIEW_SCREENSHOT"])
        page.set_viewport_size({"width": 1100, "height": 780})
        page.screenshot(path=str(tmp_path / "readme.png"), type="png")
        shutil.copyfile(tmp_path / "readme.png", target)


def test_script_in_a_response_is_shown_as_text(view_run, viewer_url, page):
    page.goto(f"{viewer_url}/stages/graded/rows/{view_run.script_id}?model=teacher-a&sample=1")
    page.wait_for_selector("body[data-ready='1']")
    assert page.title() != "pwned"
    assert '<script>document.title="pwned"</script>' in page.inner_text("#trace .response")
    assert page.locator("#trace .response script").count() == 0
    assert page.locator("#trace .response .katex").count() >= 1


def test_traversal_in_the_address_bar_is_refused(viewer_url, browser):
    context = browser.new_context()  # not the `page` fixture: the refusal is logged as a console error
    try:
        page = context.new_page()
        resp = page.goto(f"{viewer_url}/stages/graded/rows/..%2F..%2F_manifest.json")
        assert resp.status == 400
        assert "not allowed" in page.inner_text("main")
    finally:
        context.close()
