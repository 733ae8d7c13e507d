"""Verify one shard of a stage run a chunk at a time, checkpointing each chunk (used locally and in Ray tasks)."""

from __future__ import annotations

import polars as pl

from distill_cli.stagedir.runner import ShardTask
from distill_cli.stages.verify.core import VerifyConfig, verdict_stats, verify_frame, with_consensus

CHUNK_ROWS = 2000
POS, REASON = "__verify_pos", "__verify_reason"


class LazyPool:
    """Start worker processes only when a shard actually needs verifying (a finished run starts none)."""

    def __init__(self, cfg: VerifyConfig):
        self.cfg, self.pool = cfg, None

    def get(self):
        if self.pool is None:
            from distill_cli.stages.verify.pool import VerifyPool

            self.pool = VerifyPool(self.cfg).__enter__()
        return self.pool

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool = None


def verify_shard(df: pl.DataFrame, task: ShardTask, cfg: VerifyConfig, pool: LazyPool,
                 chunk_rows: int = CHUNK_ROWS, judge=None) -> tuple[pl.DataFrame, dict]:
    """Verify a shard a chunk at a time, saving each chunk, so a kill loses one chunk; resumes by row position.

    Consensus labels are decided over the whole shard first (a chunk may split a prompt's samples); they are the
    same on every run, so a resumed shard's chunks agree with the saved ones. A `judge` (judge_run.Judge) then
    decides the rows its `when` selects, once the whole shard is verified (its replies are checkpointed too)."""
    if cfg.consensus is not None and df.height:
        df = with_consensus(df, cfg, pool.get())
    df = df.with_row_index(POS)
    saved = task.checkpoint.load()
    if saved is not None:
        df = df.join(saved.select(POS), on=POS, how="anti")
        task.progress.advance(saved.height, note="resumed", resumed=True)
    for start in range(0, df.height, chunk_rows):
        chunk = df.slice(start, chunk_rows)
        out, _ = verify_frame(chunk, cfg, pool=pool.get(), progress=task.progress.advance, reason_column=REASON)
        task.checkpoint.append(out)
    rows = task.checkpoint.load()
    if rows is None:  # an empty shard
        rows = verify_frame(df, cfg, reason_column=REASON)[0]
    rows = rows.sort(POS)
    reasons, judged = rows.get_column(REASON).to_list(), None
    if judge is not None:
        from distill_cli.stages.verify.judge_run import judge_shard, verified_domains

        rows, reasons, judged = judge_shard(rows, task, judge, verified_domains(rows, cfg.domain), reasons)
    stats = verdict_stats(rows, reasons=reasons) | ({"judge": judged} if judged is not None else {})
    return rows.drop(POS, REASON), stats
