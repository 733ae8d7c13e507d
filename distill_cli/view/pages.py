"""The viewer's HTML: every value from a trace goes through html.escape, so trace text is shown, never run.

Markdown and LaTeX are rendered in the browser (static/view.js) from the escaped text of `.md` blocks, by
markdown-it with raw HTML off and KaTeX, both vendored; without JavaScript the page still shows the plain text.
"""

from __future__ import annotations

from html import escape
from urllib.parse import quote, urlencode

from distill_cli import __version__
from distill_cli.view import trace
from distill_cli.view.app import PromptPage, Viewer
from distill_cli.view.catalog import StageView
from distill_cli.view.query import CHOICES, SORTABLE

HEAD = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,"><title>{title}</title>
<link rel="stylesheet" href="/static/vendor/katex/katex.min.css"><link rel="stylesheet" href="/static/view.css">
<script src="/static/vendor/katex/katex.min.js" defer></script>
<script src="/static/vendor/markdown-it/markdown-it.umd.min.js" defer></script>
<script src="/static/view.js" defer></script></head>
<body data-page="{page}"><header><a class="brand" href="/">distill view</a> {crumbs}
<span class="root">{root}</span></header><main>{body}</main>
<footer>distill {version} &middot; read-only</footer></body></html>"""


def h(value: object) -> str:
    return "" if value is None else escape(str(value), quote=True)


def stage_url(name: str) -> str:
    return "/stages/" + quote(name, safe="")


def prompt_url(stage: str, prompt_id: str, **query: object) -> str:
    args = {k: v for k, v in query.items() if v is not None}
    return f"{stage_url(stage)}/rows/{quote(prompt_id, safe='')}" + (f"?{urlencode(args)}" if args else "")


def layout(viewer: Viewer, title: str, page: str, body: str, crumbs: list[tuple[str, str]] = ()) -> str:
    trail = "".join(f' / <a href="{h(url)}">{h(text)}</a>' for text, url in crumbs)
    return HEAD.format(title=h(title), page=h(page), crumbs=trail, root=h(viewer.root), body=body,
                       version=h(__version__))


def run_page(viewer: Viewer) -> str:
    rows = []
    for s in viewer.catalog.refresh():
        removed = ", ".join(f"{n} {k}" for k, n in viewer.removed_counts(s).items())
        state = "complete" if s.complete else '<span class="warn">incomplete</span>'
        rows.append(f'<tr><td><a href="{h(stage_url(s.name))}">{h(s.name)}</a></td><td>{h(s.stage)}</td>'
                    f'<td class="num">{s.total:,}</td><td class="num">{len(s.files)}</td><td>{state}</td>'
                    f"<td>{h(removed)}</td></tr>")
    rows += [f'<tr><td>{h(name)}</td><td colspan=5 class="warn">cannot be read: {h(why)}</td></tr>'
             for name, why in viewer.catalog.unreadable.items()]
    report = ('<p><a href="/report/report.html">the run\'s report</a> (distill report)</p>'
              if (viewer.root / "report" / "report.html").is_file() else
              f"<p>No report yet: <code>distill report {h(viewer.root)}</code> writes one.</p>")
    body = (f"<h1>Run {h(viewer.root.name)}</h1>{report}<table class='grid'><thead><tr><th>stage directory</th>"
            "<th>stage</th><th>rows</th><th>shards</th><th>state</th><th>removed</th></tr></thead><tbody>"
            + ("".join(rows) or "<tr><td colspan=6>No stage directories here.</td></tr>") + "</tbody></table>")
    return layout(viewer, f"distill view: {viewer.root.name}", "run", body)


def _select(name: str, current: tuple[str, ...]) -> str:
    options = "".join(f'<option value="{h(v)}" selected>{h(v)}</option>' for v in current)
    return (f'<label>{name}<select name="{name}" data-facet="{name}"><option value="">any</option>{options}'
            "</select></label>")


def _number(name: str, label: str, value: object, step: str) -> str:
    return (f'<label>{label}<input type="number" name="{name}" step="{step}" value="{h(value)}" '
            'size="6"></label>')


def stage_page(viewer: Viewer, view: StageView, params: dict[str, list[str]]) -> str:
    def one(key: str) -> str:
        return (params.get(key) or [""])[-1]

    chosen = {k: tuple(v for x in params.get(k, []) for v in x.split(",") if v) for k in CHOICES}
    sorts = "".join(f'<option value="{h(s)}"{" selected" if one("sort").lstrip("-") == s else ""}>{h(s)}</option>'
                    for s in SORTABLE)
    form = (f'<form id="filters" method="get" action="{h(stage_url(view.name))}">'
            + "".join(_select(k, chosen[k]) for k in CHOICES)
            + _number("pass_min", "pass rate &ge;", one("pass_min"), "0.05")
            + _number("pass_max", "&le;", one("pass_max"), "0.05")
            + _number("len_min", "length &ge;", one("len_min"), "1")
            + _number("len_max", "&le;", one("len_max"), "1")
            + f'<label>search<input type="search" name="q" value="{h(one("q"))}" placeholder="prompt or response">'
            + f'</label><label>sort<select name="sort">{sorts}</select></label>'
            + f'<label><input type="checkbox" name="desc" value="1"{" checked" if one("desc") else ""}>desc</label>'
            + '<button type="submit">filter</button> <a href="' + h(stage_url(view.name)) + '">clear</a></form>')
    body = (f"<h1>{h(view.name)} <small>{h(view.stage)}, {view.total:,} rows</small></h1>{form}"
            '<p id="status" class="status">loading&hellip;</p><table class="grid" id="rows"><thead></thead>'
            '<tbody></tbody></table><nav class="pager"><button id="prev" type="button">&larr; previous</button>'
            '<button id="next" type="button">next &rarr;</button></nav>')
    return layout(viewer, f"{view.name}: distill view", "stage", f'<div data-stage="{h(view.name)}">{body}</div>',
                  [(view.name, stage_url(view.name))])


def _md(text: object, cls: str = "", extracted: object = None) -> str:
    mark = f' data-extracted="{h(extracted)}"' if extracted not in (None, "") else ""
    return f'<div class="md {cls}"{mark}>{h(text)}</div>'


def _tex(text: object, tag: str = "div") -> str:
    return f'<{tag} class="tex">{h(text)}</{tag}>'


def _badge(verdict: object) -> str:
    return f'<span class="verdict v-{h(verdict or "none")}">{h(verdict or "not verified")}</span>'


def _samples(page: PromptPage) -> str:
    rows = []
    for i, t in enumerate(page.traces):
        gone = " removed" if page.removals[i] or t.get("__removed") else ""
        url = prompt_url(page.stage.name, page.prompt_id, model=t.get("model"), sample=t.get("sample"))
        cur = ' class="current"' if i == page.selected else ""
        rows.append(f'<tr{cur}><td><a href="{h(url)}">{h(t.get("model"))} #{h(t.get("sample"))}</a></td>'
                    f"<td>{_badge(t.get('verdict'))}</td><td class='num'>{h(t.get('score'))}</td>"
                    f"<td class='num'>{h(t.get('completion_tokens'))}</td><td>{_tex(t.get('extracted'), 'span')}</td>"
                    f"<td>{gone}</td></tr>")
    return ("<section id='samples'><h2>Samples of this prompt</h2><table class='grid'><thead><tr><th>trace</th>"
            "<th>verdict</th><th>score</th><th>tokens</th><th>extracted</th><th></th></tr></thead><tbody>"
            + "".join(rows) + "</tbody></table></section>")


def _diff(page: PromptPage) -> str:
    t = page.open
    if t.get("reasoning_original") is None:
        return ""
    head = (f"<h2>Compression</h2><p>strategy {h(t.get('compression'))}, reasoning length ratio "
            f"{h(t.get('compression_ratio'))}</p>")
    if page.diff is None:
        return (f"<section id='compression'>{head}<p>Too long to diff; the original reasoning:</p>"
                f"<pre class='text'>{h(t['reasoning_original'])}</pre></section>")
    words = trace.diff_stats(page.diff)
    tags = {"same": "span", "del": "del", "add": "ins"}
    parts = "".join(f"<{tags[op]}>{h(x)}</{tags[op]}>" for op, x in page.diff)
    return (f"<section id='compression'>{head}<details open><summary>diff of the reasoning: {words['del']} words "
            f"cut, {words['add']} added, {words['same']} kept</summary><div class='diff'>{parts}</div></details>"
            "</section>")


def _removal(page: PromptPage) -> str:
    found = page.removals[page.selected]
    if not found:
        return ""
    items = []
    for r in found:
        members = "".join(
            f'<li><a href="{h(prompt_url(r.stage, str(m.get("id")), model=m.get("model"), sample=m.get("sample")))}">'
            f'{h(m.get("id"))} {h(m.get("model"))} #{h(m.get("sample"))}</a> (row {h(m.get("row"))})</li>'
            for m in r.cluster)
        kept = r.record.get("kept_id")
        link = (f' <a href="{h(prompt_url(page.stage.name if r.stage == page.stage.name else r.stage, str(kept)))}">'
                f"open the kept prompt</a>" if kept else "")
        bench = (f"<blockquote class='text'>{h(r.record.get('bench_text'))}</blockquote>"
                 if r.record.get("bench_text") else "")
        cluster = f"<p>Removed from the same cluster:</p><ul>{members}</ul>" if members else ""
        items.append(f"<div class='removal'><p>{h(trace.removal_text(r))}{link}</p>{bench}{cluster}</div>")
    return "<section id='dedupe'><h2>Dedupe</h2>" + "".join(items) + "</section>"


def trace_page(viewer: Viewer, page: PromptPage) -> str:
    t = page.open
    reasoning = t.get("reasoning")
    response = t.get("response") if t.get("response") is not None else t.get("completion")
    extracted = t.get("extracted")
    checks = (f"<p>{_badge(t.get('verdict'))} <span class='reason'>{h(trace.verdict_reason(t))}</span></p>"
              f"<dl><dt>checker</dt><dd>{h(t.get('verifier'))}</dd><dt>extracted</dt><dd><mark class='answer'>"
              f"{_tex(extracted, 'span')}</mark></dd><dt>score</dt><dd>{h(t.get('score'))}</dd><dt>finish</dt>"
              f"<dd>{h(t.get('finish_reason'))}</dd><dt>tokens</dt><dd>{h(t.get('completion_tokens'))}</dd></dl>")
    length = len(str(reasoning)) if reasoning is not None else 0
    body = (f"<h1>Prompt <code>{h(page.prompt_id)}</code> <small>{h(t.get('domain'))} &middot; {h(t.get('source'))}"
            f"</small></h1><div class='cols'><div class='main'>"
            f"<section id='prompt'><h2>Prompt</h2>{_md(t.get('prompt'))}</section>"
            f"<section id='reference'><h2>Reference answer</h2>{_tex(t.get('answer'))}</section>"
            f"<section id='trace'><h2>{h(t.get('model'))} sample {h(t.get('sample'))}</h2>{checks}"
            + (f"<details id='reasoning'><summary>reasoning ({length:,} characters)</summary>{_md(reasoning)}</details>"
               if reasoning is not None else "")
            + f"<h3>Answer</h3>{_md(response, 'response', extracted)}</section>"
            + _diff(page) + _removal(page) + "</div><aside>" + _samples(page) + "</aside></div>")
    crumbs = [(page.stage.name, stage_url(page.stage.name)), (page.prompt_id, prompt_url(page.stage.name,
                                                                                          page.prompt_id))]
    return layout(viewer, f"{page.prompt_id}: distill view", "trace", body, crumbs)


def error_page(viewer: Viewer, status: int, message: str) -> str:
    return layout(viewer, f"{status}: distill view", "error", f"<h1>{status}</h1><p>{h(message)}</p>")
