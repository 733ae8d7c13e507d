// distill view: Markdown + LaTeX rendering of trace text, and the stage table fed by the JSON API.
// Trace text reaches the DOM only as textContent or through markdown-it with raw HTML off; KaTeX output is
// KaTeX's own markup of the formula (trust off, so no \href or \htmlClass).
"use strict";

(function () {
  const OPEN = "\uE000", CLOSE = "\uE001";
  // code first (left untouched), then $$..$$, \[..\], \(..\), $..$ not touching spaces (so "$5 and $6" is text),
  // and a bare \boxed{..} outside any delimiters, as models often write it
  const TOKENS = /(```[\s\S]*?```|`[^`\n]+`)|\$\$([\s\S]+?)\$\$|\\\[([\s\S]+?)\\\]|\\\(([\s\S]+?)\\\)|(?<![\\$\w])\$(?=\S)((?:\\.|[^$\\\n])+?)(?<=\S)\$(?![\w$])|(\\boxed\{(?:[^{}]|\{(?:[^{}]|\{[^{}]*\})*\})*\})/g;

  function splitMath(src) {
    const maths = [];
    const text = src.replace(TOKENS, (all, code, dbl, brk, par, inl, boxed) => {
      if (code !== undefined) return all;
      const display = dbl !== undefined || brk !== undefined;
      maths.push({ tex: dbl ?? brk ?? par ?? inl ?? boxed, display: display });
      return OPEN + (maths.length - 1) + CLOSE;
    });
    return { text: text, maths: maths };
  }

  function answerMath(maths, extracted) {
    if (!extracted) return -1;
    for (let i = maths.length - 1; i >= 0; i--) {
      if (maths[i].tex.includes("\\boxed") && maths[i].tex.includes(extracted)) return i;
    }
    for (let i = maths.length - 1; i >= 0; i--) {
      if (maths[i].tex.includes(extracted)) return i;
    }
    for (let i = maths.length - 1; i >= 0; i--) {  // verify normalizes what it extracts from \boxed{}
      if (maths[i].tex.includes("\\boxed")) return i;
    }
    return -1;
  }

  function markLastText(el, needle) {
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    let hit = null;
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      if (node.parentElement.closest(".katex")) continue;
      const at = node.data.lastIndexOf(needle);
      if (at >= 0) hit = { node: node, at: at };
    }
    if (!hit) return;
    const range = document.createRange();
    range.setStart(hit.node, hit.at);
    range.setEnd(hit.node, hit.at + needle.length);
    const mark = document.createElement("mark");
    mark.className = "answer";
    range.surroundContents(mark);
  }

  const md = window.markdownit ? window.markdownit({ html: false, linkify: false, typographer: false }) : null;

  function renderMarkdown(el) {
    const src = el.textContent;
    if (!md || !window.katex || !src) return;
    const extracted = el.dataset.extracted || "";
    const parts = splitMath(src);
    const target = answerMath(parts.maths, extracted);
    const html = md.render(parts.text).replace(/\uE000(\d+)\uE001/g, (all, i) => {
      const m = parts.maths[Number(i)];
      const out = window.katex.renderToString(m.tex, { displayMode: m.display, throwOnError: false, trust: false,
                                                        strict: "ignore" });
      return Number(i) === target ? '<mark class="answer">' + out + "</mark>" : out;
    });
    el.innerHTML = html;
    el.classList.add("rendered");
    if (extracted && target < 0) markLastText(el, extracted);
  }

  // an answer (reference or extracted) is LaTeX without delimiters: typeset it whole, or leave the text as it is
  function renderTex(el) {
    const src = el.textContent;
    if (!window.katex || !src.trim()) return;
    try {
      el.innerHTML = window.katex.renderToString(src, { throwOnError: true, trust: false, strict: "ignore" });
      el.classList.add("rendered");
    } catch (err) {
      el.classList.add("plain");
    }
  }

  // ---- the stage table ---------------------------------------------------------------------------------------
  const SHOWN = ["row", "id", "model", "sample", "verdict", "extracted", "difficulty", "pass_rate", "length",
                 "compression_ratio", "prompt_preview", "response_preview"];

  function cell(tr, value, cls) {
    const td = document.createElement("td");
    if (cls) td.className = cls;
    td.textContent = value === null || value === undefined ? "" : String(value);
    tr.appendChild(td);
    return td;
  }

  function stageTable(box) {
    const stage = box.dataset.stage;
    const base = "/api/stages/" + encodeURIComponent(stage);
    const params = new URLSearchParams(location.search);
    const status = document.getElementById("status");
    fetch(base + "/rows?" + params.toString()).then((r) => r.json().then((body) => ({ ok: r.ok, body: body })))
      .then(({ ok, body }) => {
        if (!ok) { status.textContent = "Error: " + body.error; return; }
        const rows = body.rows;
        const offset = body.offset, limit = body.limit;
        status.textContent = body.total.toLocaleString() + " rows" + (body.total ? ", showing " + (offset + 1) +
          "\u2013" + (offset + rows.length) : "");
        const cols = SHOWN.filter((c) => rows.some((row) => c in row));
        const head = document.querySelector("#rows thead");
        const htr = document.createElement("tr");
        cols.forEach((c) => { const th = document.createElement("th"); th.textContent = c; htr.appendChild(th); });
        head.replaceChildren(htr);
        const tbody = document.querySelector("#rows tbody");
        tbody.replaceChildren();
        rows.forEach((row) => {
          const tr = document.createElement("tr");
          tr.dataset.verdict = row.verdict ?? "";
          cols.forEach((c) => {
            const td = cell(tr, row[c], c === "verdict" ? "verdict v-" + (row.verdict || "none") : "c-" + c);
            if (c === "id") {
              const link = document.createElement("a");
              const q = new URLSearchParams();
              if (row.model != null) q.set("model", row.model);
              if (row.sample != null) q.set("sample", row.sample);
              link.href = "/stages/" + encodeURIComponent(stage) + "/rows/" + encodeURIComponent(row.id) +
                (q.toString() ? "?" + q.toString() : "");
              link.textContent = row.id;
              td.replaceChildren(link);
            }
          });
          tbody.appendChild(tr);
        });
        pager(params, offset, limit, body.total);
      })
      .catch((err) => { status.textContent = "Error: " + err; });
    fetch(base + "/facets").then((r) => r.json()).then((body) => {
      document.querySelectorAll("select[data-facet]").forEach((sel) => {
        const have = new Set(Array.from(sel.options).map((o) => o.value));
        (body.facets[sel.dataset.facet] || []).forEach((v) => {
          if (have.has(v)) return;
          const opt = document.createElement("option");
          opt.value = v; opt.textContent = v;
          sel.appendChild(opt);
        });
      });
    });
    document.getElementById("filters").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const q = new URLSearchParams();
      new FormData(ev.target).forEach((v, k) => { if (String(v).trim() !== "") q.append(k, v); });
      location.search = q.toString();
    });
  }

  function pager(params, offset, limit, total) {
    const go = (to) => { params.set("offset", String(to)); params.set("limit", String(limit)); location.search = params.toString(); };
    const prev = document.getElementById("prev"), next = document.getElementById("next");
    prev.disabled = offset <= 0;
    next.disabled = offset + limit >= total;
    prev.onclick = () => go(Math.max(0, offset - limit));
    next.onclick = () => go(offset + limit);
  }

  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll(".md").forEach(renderMarkdown);
    document.querySelectorAll(".tex").forEach(renderTex);
    const box = document.querySelector("[data-stage]");
    if (box) stageTable(box);
    document.body.dataset.ready = "1";
  });
})();
