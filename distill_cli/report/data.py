"""Read what a run left behind: stage directories found by their manifests, and the numbers worth plotting.

Everything here reads only manifests and the few columns a figure needs (Parquet column pruning), so a report
over millions of traces stays cheap. Every metric returns None when its stage or columns are absent: a report
over a half-finished run shows what exists and says what does not.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

from distill_cli.schema import CONTAMINATION, DUPLICATES, FILTERED
from distill_cli.stagedir.inputs import MANIFEST
from distill_cli.stages.export.core import STAMP_SUFFIX, exported_path

DIFFICULTY_ORDER = ("unsolved", "hard", "medium", "easy", "trivial")
STAGE_ORDER = ("collect", "generate", "verify", "filter", "grade", "select", "compress", "dedupe")
OPTIONAL_STAGES = ("filter",)  # not named as missing from a run that has no such stage
# columns of the side files that say what a removed row matched or why, most specific first
MATCH_COLUMNS = ("benchmark", "kind", "match", "reason")


@dataclass(frozen=True)
class Stage:
    """One stage directory, as its manifest describes it."""

    path: Path
    manifest: dict

    @property
    def stage(self) -> str:
        return str(self.manifest.get("stage", "?"))

    @property
    def rows(self) -> int:
        """Rows out; for an unfinished run, the rows of the shards that exist so far."""
        if self.complete:
            return int(self.manifest.get("rows") or 0)
        return sum(pq.read_metadata(f).num_rows for f in self.files)

    @property
    def complete(self) -> bool:
        return bool(self.manifest.get("complete"))

    @property
    def params(self) -> dict:
        return self.manifest.get("params") or {}

    @property
    def stats(self) -> dict:
        return self.manifest.get("stats") or {}

    @property
    def files(self) -> list[Path]:
        return sorted(self.path.glob("part-*.parquet"))

    @property
    def columns(self) -> list[str]:
        files = self.files
        return list(pl.read_parquet_schema(files[0])) if files else []

    def scan(self, *columns: str) -> pl.LazyFrame | None:
        """The named columns of every shard, or None when a shard set or a column is missing."""
        files = self.files
        if not files or any(c not in self.columns for c in columns):
            return None
        return pl.scan_parquet([str(f) for f in files]).select(list(columns))

    @property
    def order(self) -> int:
        return STAGE_ORDER.index(self.stage) if self.stage in STAGE_ORDER else len(STAGE_ORDER)


def load_stage(path: Path) -> Stage | None:
    manifest = path / MANIFEST
    if not manifest.is_file():
        return None
    try:
        return Stage(path.resolve(), json.loads(manifest.read_text()))
    except (OSError, json.JSONDecodeError):
        return None


def _stage_dir_of(spec: str | Path) -> Path | None:
    """A stage directory, or the directory holding a shard that a later stage read directly."""
    path = Path(spec)
    if (path / MANIFEST).is_file():
        return path
    if path.is_file() and (path.parent / MANIFEST).is_file():
        return path.parent
    return None


def lineage(spec: str | Path) -> list[Stage]:
    """The stage at `spec` and every stage upstream of it (following manifests' `upstream`), pipeline order."""
    seen: dict[Path, Stage] = {}
    todo = [spec]
    while todo:
        where = _stage_dir_of(todo.pop())
        stage = load_stage(where) if where is not None else None
        if stage is None or stage.path in seen:
            continue
        seen[stage.path] = stage
        todo.extend(stage.manifest.get("upstream") or [])
    return sort_stages(list(seen.values()))


def sort_stages(stages: list[Stage]) -> list[Stage]:
    return sorted(stages, key=lambda s: (s.order, str(s.manifest.get("updated", "")), str(s.path)))


def find_stages(run_dir: Path) -> list[Stage]:
    """Stage directories in a run directory (one or two levels down), whatever they are named."""
    found: dict[Path, Stage] = {}
    candidates = [run_dir, *sorted(p for p in run_dir.glob("*") if p.is_dir()),
                  *sorted(p for p in run_dir.glob("*/*") if p.is_dir())]
    for path in candidates:
        stage = load_stage(path)
        if stage is not None:
            found[stage.path] = stage
    if run_dir.resolve() in found:  # a stage directory itself: report its whole chain
        for stage in lineage(run_dir):
            found.setdefault(stage.path, stage)
    return sort_stages(list(found.values()))


@dataclass(frozen=True)
class Export:
    """A file or directory `distill export` wrote, as the stamp beside it describes it."""

    path: Path
    stamp: dict

    def describe(self) -> str:
        s = self.stamp
        if "format" not in s:
            return f"{self.path} (written by an older distill: format and records not recorded)"
        return (f"{self.path}: {s.get('records')} {str(s['format']).upper()} records ({s.get('shape')}) from "
                f"{s.get('input')}; card {s.get('card')}")


def find_exports(run_dir: Path) -> list[Export]:
    """Exports in the run directory or one level down, found by their stamps (whose data is still there)."""
    found = []
    for stamp in sorted([*run_dir.glob(f".*{STAMP_SUFFIX}"), *run_dir.glob(f"*/.*{STAMP_SUFFIX}")]):
        target = exported_path(stamp)
        try:
            data = json.loads(stamp.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if isinstance(data, dict) and target.exists():
            found.append(Export(target, data))
    return found


def first(stages: list[Stage], *names: str, column: str | None = None) -> Stage | None:
    """The most upstream stage among `names` (in the order given) that has `column`."""
    for name in names:
        for stage in stages:
            if stage.stage == name and stage.files and (column is None or column in stage.columns):
                return stage
    return None


def last(stages: list[Stage], name: str) -> Stage | None:
    matches = [s for s in stages if s.stage == name]
    return matches[-1] if matches else None


# ---- metrics -------------------------------------------------------------------------------------------------


def verdict_counts(stage: Stage | None) -> pl.DataFrame | None:
    """Rows per (model, verdict); a missing model column counts as one model."""
    if stage is None or "verdict" not in stage.columns:
        return None
    cols = ["verdict", "model"] if "model" in stage.columns else ["verdict"]
    lf = stage.scan(*cols)
    if "model" not in cols:
        lf = lf.with_columns(model=pl.lit("-"))
    return (lf.with_columns(pl.col("verdict").fill_null("none"), pl.col("model").fill_null("-"))
            .group_by("model", "verdict").len("n").sort("model", "verdict").collect())


def pass_rates(stage: Stage | None) -> pl.DataFrame | None:
    """One pass rate per (prompt id, model): graded stages carry it, verified ones are averaged here."""
    if stage is None or "id" not in stage.columns:
        return None
    has_model = "model" in stage.columns
    keys = ["id", "model"] if has_model else ["id"]
    if "pass_rate" in stage.columns:
        lf = stage.scan(*keys, "pass_rate").unique(keys)
    elif "verdict" in stage.columns:
        lf = (stage.scan(*keys, "verdict").group_by(keys)
              .agg(pass_rate=(pl.col("verdict") == "correct").cast(pl.Float64).mean()))
    else:
        return None
    if not has_model:
        lf = lf.with_columns(model=pl.lit("-"))
    return lf.select("id", "model", "pass_rate").collect()


def difficulty_counts(stage: Stage | None) -> pl.DataFrame | None:
    """Prompts per (model, difficulty band), each (id, model) counted once."""
    if stage is None or not {"id", "difficulty"} <= set(stage.columns):
        return None
    keys = ["id", "model"] if "model" in stage.columns else ["id"]
    lf = stage.scan(*keys, "difficulty").unique(keys)
    if "model" not in keys:
        lf = lf.with_columns(model=pl.lit("-"))
    return (lf.with_columns(pl.col("difficulty").fill_null("none"))
            .group_by("model", "difficulty").len("n").sort("model", "difficulty").collect())


def token_lengths(stage: Stage | None) -> pl.DataFrame | None:
    """Teacher completion tokens per trace, with model and finish reason when present."""
    if stage is None or "completion_tokens" not in stage.columns:
        return None
    cols = [c for c in ("model", "finish_reason") if c in stage.columns]
    return stage.scan("completion_tokens", *cols).collect()


def compression_lengths(stage: Stage | None) -> tuple[pl.DataFrame, str] | None:
    """Trace length before and after compression, and the unit it is measured in.

    `completion_tokens` is the teacher's count of the original trace. After compression the count is the stage's
    own `trace_tokens` when it measured one (max-tokens), else compress's documented estimate: the original
    count scaled by how much the text shrank. Without token counts, reasoning characters.
    """
    if stage is None or not {"reasoning_original", "reasoning"} <= set(stage.columns):
        return None
    chars = stage.scan("reasoning_original", "reasoning").select(
        before=pl.col("reasoning_original").str.len_chars().fill_null(0),
        after=pl.col("reasoning").str.len_chars().fill_null(0))
    if "completion_tokens" not in stage.columns:
        return chars.collect(), "reasoning characters"
    if "trace_tokens" in stage.columns:
        df = stage.scan("completion_tokens", "trace_tokens").select(
            before=pl.col("completion_tokens"), after=pl.col("trace_tokens").fill_null(pl.col("completion_tokens")))
        return df.collect(), "tokens"
    response = (pl.col("response").str.len_chars() if "response" in stage.columns else pl.lit(0)).fill_null(0)
    cols = ["completion_tokens", "reasoning_original", "reasoning", *(["response"] if "response" in stage.columns
                                                                     else [])]
    old = pl.col("reasoning_original").str.len_chars().fill_null(0) + response
    new = pl.col("reasoning").str.len_chars().fill_null(0) + response
    df = stage.scan(*cols).select(
        before=pl.col("completion_tokens"),
        after=pl.when(old > 0).then((pl.col("completion_tokens") * new / old).round(0).cast(pl.Int64))
        .otherwise(pl.col("completion_tokens")))
    return df.collect(), "tokens (after: estimated from the character change)"


def side_counts(stage_dir: Path, stem: str) -> dict | None:
    """Rows of a dedupe side table (`STEM.parquet`, or one per partition under --shard) split by what they matched."""
    paths = sorted([*stage_dir.glob(f"{stem}.parquet"), *stage_dir.glob(f"{stem}-part-*.parquet")])
    if not paths:
        return None
    df = pl.concat([pl.read_parquet(p) for p in paths], how="diagonal_relaxed")
    by = next((c for c in MATCH_COLUMNS if c in df.columns and df[c].dtype == pl.String), None)
    split = {} if by is None else dict(df.group_by(by).len().sort("len", descending=True).iter_rows())
    return {"rows": df.height, "by": by, "split": {str(k): int(v) for k, v in split.items()}}


def _removal_summary(stage: Stage, **extra) -> dict:
    """What every stage that removes rows reports: where, rows in and out, its params, plus its own tables."""
    return {"path": str(stage.path), "rows_in": stage.stats.get("rows_in"), "rows_out": stage.rows,
            "params": flat_params(stage.params), **extra}


def dedupe_summary(stage: Stage | None) -> dict | None:
    if stage is None:
        return None
    return _removal_summary(stage, duplicates=side_counts(stage.path, DUPLICATES),
                            contamination=side_counts(stage.path, CONTAMINATION))


def filter_summary(stage: Stage | None) -> dict | None:
    """What `distill filter` dropped, by reason: its side table's rows, and the per-check failure counts."""
    if stage is None:
        return None
    return _removal_summary(stage, filtered=side_counts(stage.path, FILTERED),
                            failed_checks={k: v for k, v in (stage.stats.get("failed_checks") or {}).items() if v})


def funnel(stages: list[Stage]) -> list[tuple[str, str, int]]:
    """(directory name, stage, rows) down the pipeline."""
    return [(s.path.name, s.stage, s.rows) for s in stages]


def flat_params(params: dict, prefix: str = "") -> dict:
    """Nested params as dotted keys, without the unset ones and the bookkeeping ones."""
    out: dict = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flat_params(value, f"{name}."))
        elif value is not None and key not in ("rows_per_shard", "shard_count"):
            out[name] = value
    return out


def histogram(values: list[float], lo: float, hi: float, bins: int) -> list[tuple[float, float, int]]:
    """Fixed-width bins over [lo, hi]; the last bin is closed so hi itself is counted."""
    width = (hi - lo) / bins or 1.0
    counts = [0] * bins
    for v in values:
        if v is None:
            continue
        i = min(bins - 1, max(0, int((v - lo) / width)))
        counts[i] += 1
    return [(lo + i * width, lo + (i + 1) * width, c) for i, c in enumerate(counts)]
