"""The viewer's answers, as plain data: what the JSON API returns and what the pages draw, per request.

Everything is read from the catalog's stages through lazy scans; nothing here writes a file. A name or id that
does not exist is NotFound (404); a malformed one, or a query string that cannot be parsed, is BadInput (400).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from distill_cli.errors import BadInput, DistillError
from distill_cli.view import query, trace
from distill_cli.view.catalog import SIDE_FILES, Catalog, StageView


class NotFound(DistillError):
    """The stage, prompt or file asked for is not in this run."""


def check_name(value: str, what: str) -> str:
    """Refuse a stage name or row id that tries to leave its place ('..', a NUL, a backslash, an absolute path)."""
    if not value or ".." in value or "\x00" in value or "\\" in value or value.startswith("/"):
        raise BadInput(f"{what} {value[:80]!r} is not allowed")
    return value


@dataclass
class PromptPage:
    stage: StageView
    prompt_id: str
    traces: list[dict]
    selected: int
    removals: list[list[trace.Removal]]  # per trace
    diff: list[tuple[str, str]] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def open(self) -> dict:
        return self.traces[self.selected]


class Viewer:
    def __init__(self, root: Path):
        self.catalog = Catalog(root)
        self.root = self.catalog.root

    def stage(self, name: str) -> StageView:
        view = self.catalog.get(check_name(name, "stage"))
        if view is None:
            raise NotFound(f"no stage {name!r} in {self.root}")
        return view

    def stages_json(self) -> dict:
        return {"root": str(self.root), "stages": [
            {"name": s.name, "stage": s.stage, "rows": s.total, "shards": len(s.files), "complete": s.complete,
             "columns": s.columns, "removed": self.removed_counts(s)}
            for s in self.catalog.refresh()], "unreadable": self.catalog.unreadable}

    @staticmethod
    def removed_counts(view: StageView) -> dict[str, int]:
        """Rows listed in each dedupe side file of the stage (footers only)."""
        return {kind: pl.scan_parquet(path).select(pl.len()).collect().item()
                for kind in SIDE_FILES if (path := view.side_file(kind)) is not None}

    def rows_json(self, name: str, params: dict[str, list[str]]) -> dict:
        view = self.stage(name)
        q = query.parse_query(params)
        total, rows = query.page_rows(view.scan(), q, view.columns, view.total)
        cols = [c for c in (*query.TABLE_COLUMNS, "prompt", "response", "completion") if c in view.columns]
        df = query.fetch(view.files, view.rows, rows, cols)
        return {"total": total, "offset": q.offset, "limit": q.limit, "rows": query.table_rows(df, view.columns)}

    def facets_json(self, name: str) -> dict:
        view = self.stage(name)
        return {"facets": query.facets(view.scan(), view.columns), "columns": view.columns}

    def side(self, view: StageView, kind: str) -> pl.DataFrame:
        path = view.side_file(kind)
        return pl.read_parquet(path) if path else pl.DataFrame()

    def _removed_traces(self, view: StageView, found: list[trace.Removal]) -> pl.DataFrame:
        """The rows a dedupe stage removed, read back from the stage it read (when that stage is in DIR too)."""
        up = next((self.catalog.by_path(p) for p in view.upstream if self.catalog.by_path(p)), None)
        rows = sorted({int(r.record["row"]) for r in found if r.record.get("row") is not None})
        if up is None or not rows:
            return pl.DataFrame()
        return query.fetch(up.files, up.rows, rows).with_columns(pl.lit(True).alias("__removed"))

    def prompt(self, name: str, prompt_id: str, sample: int | None = None, model: str | None = None) -> PromptPage:
        view = self.stage(name)
        check_name(prompt_id, "row id")
        if "id" not in view.columns:
            raise NotFound(f"stage {name!r} has no id column")
        here = query.fetch(view.files, view.rows, query.prompt_rows(view.scan(), prompt_id))
        found = [r for kind in SIDE_FILES for r in trace.removals(self.side(view, kind), kind, name, prompt_id)]
        gone = self._removed_traces(view, found)
        frames = [f for f in (here, gone) if not f.is_empty()]
        if not frames:
            raise NotFound(f"no rows with id {prompt_id!r} in stage {name!r}")
        traces = trace.order_traces(pl.concat(frames, how="diagonal_relaxed")).to_dicts()
        later = [r for d in self.catalog.downstream(view, "dedupe") for kind in SIDE_FILES
                 for r in trace.removals(self.side(d, kind), kind, d.name, prompt_id)]
        per_trace = [[r for r in (found if t.get("__removed") else later) if trace.matches(r, t)] for t in traces]
        selected = trace.pick(traces, sample, model)
        page = PromptPage(view, prompt_id, traces, selected, per_trace)
        opened = page.open
        if opened.get("reasoning_original") is not None and opened.get("reasoning") is not None:
            page.diff = trace.word_diff(str(opened["reasoning_original"]), str(opened["reasoning"]))
        return page

    def report_file(self, name: str) -> Path:
        """A file of the run's report (DIR/report/), found by its exact name in that directory's listing."""
        check_name(name, "report file")
        folder = self.root / "report"
        listing = {p.name: p for p in folder.iterdir() if p.is_file()} if folder.is_dir() else {}
        if name not in listing:
            raise NotFound(f"no report file {name!r}")
        return listing[name]
