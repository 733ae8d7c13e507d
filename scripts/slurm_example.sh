#!/usr/bin/env bash
# Slurm job-array example: verify a traces stage directory as 8 array tasks, then grade/select/export it in a
# job that starts when every task has succeeded.
#
#   bash scripts/slurm_example.sh runs/x            on the login node: submits the array and the dependent job
#   sbatch scripts/slurm_example.sh runs/x          just the array (what the first form submits)
#
# Every task runs the same command with its own `--shard I/N`: it writes only its shards of runs/x/verify (on a
# filesystem all nodes share); whichever task writes the last shard marks the directory complete. A task that
# fails or is preempted is simply re-run (`scontrol requeue`, or submit the array again): finished shards are
# skipped and an unfinished one resumes from its last checkpoint. The same pattern fits `distill generate`
# (add --gres=gpu:1 and the model options; choose --rows-per-shard so the input has at least N shards).
#
#SBATCH --job-name=distill-verify
#SBATCH --array=0-7
#SBATCH --cpus-per-task=8
#SBATCH --mem=16G
#SBATCH --time=02:00:00
#SBATCH --output=slurm-%x-%A_%a.out
set -euo pipefail

RUN_DIR="${1:?usage: slurm_example.sh RUN_DIR (holding generate/, the traces)}"
DISTILL="${DISTILL:-distill}"
SHARDS="${SHARDS:-8}"   # must match --array=0-(SHARDS-1)
ROWS="${ROWS_PER_SHARD:-10000}"  # input rows per shard: the input needs at least SHARDS shards to keep all busy

if [ -n "${SLURM_ARRAY_TASK_ID:-}" ]; then
  # inside an array task: one shard of the verify stage
  exec "$DISTILL" verify "$RUN_DIR/generate" -o "$RUN_DIR/verify" --workers "${SLURM_CPUS_PER_TASK:-1}" \
    --rows-per-shard "$ROWS" --shard "$SLURM_ARRAY_TASK_ID/$SHARDS" --quiet
fi

if [ -n "${DISTILL_NEXT:-}" ]; then
  # the dependent job: confirm verify is whole (an unsharded re-run skips every finished shard and only marks
  # the directory complete), then the global stages, which read every row at once
  "$DISTILL" verify "$RUN_DIR/generate" -o "$RUN_DIR/verify" --rows-per-shard "$ROWS" --quiet
  "$DISTILL" grade "$RUN_DIR/verify" -o "$RUN_DIR/grade" --quiet
  "$DISTILL" select "$RUN_DIR/grade" -o "$RUN_DIR/select" --quiet   # correct traces; add --pass-rate '[0.3:0.7]' etc.
  "$DISTILL" export "$RUN_DIR/select" -o "$RUN_DIR/sft.jsonl" --format sft --quiet
  exit 0
fi

# on the login node: submit the array, then the next stages once all of its tasks succeeded
array_id=$(sbatch --parsable --array="0-$((SHARDS - 1))" "$0" "$RUN_DIR")
# --wrap, not the script itself: its #SBATCH --array header would make the next job an array too
next_id=$(sbatch --parsable --dependency="afterok:${array_id}" --job-name=distill-next --cpus-per-task=8 \
  --mem=32G --time=01:00:00 --wrap="DISTILL_NEXT=1 bash $(realpath "$0") $(realpath "$RUN_DIR")")
echo "submitted verify array ${array_id} (${SHARDS} tasks) and the dependent job ${next_id}"
