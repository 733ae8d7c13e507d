#!/usr/bin/env bash
# The whole pipeline on the bundled demo prompts with the bundled tiny teacher, on CPU:
#   bash scripts/demo.sh [RUN_DIR]      (what `make demo RUN=runs/demo` runs; after `make setup`)
# Re-running resumes: finished stages are skipped, a killed stage continues where it stopped.
set -euo pipefail

RUN_DIR="${1:-runs/demo}"
cd "$(dirname "$0")/.."
DISTILL="${DISTILL:-.venv/bin/distill}"
if [ ! -x "$DISTILL" ]; then
  DISTILL="$(command -v distill || true)"
  [ -n "$DISTILL" ] || { echo "demo: no distill command; run \`make setup\` first" >&2; exit 2; }
fi

# the bundled model is built once (about a minute); `make setup` already did it
"$DISTILL" model path >/dev/null 2>&1 || "$DISTILL" model tiny >/dev/null

start=$(date +%s)
"$DISTILL" run configs/demo.yaml --run-dir "$RUN_DIR"
# what the export was made from (inspect reads stage directories), then the first exported record
"$DISTILL" inspect "$RUN_DIR/dedupe" --rows 1
echo "first SFT record ($(wc -l < "$RUN_DIR/sft.jsonl") in $RUN_DIR/sft.jsonl):"
head -n 1 "$RUN_DIR/sft.jsonl" | python3 -c "import sys; print(sys.stdin.readline()[:600])"

echo
echo "demo finished in $(( $(date +%s) - start )) s"
echo "  training data: $RUN_DIR/sft.jsonl (card: $RUN_DIR/sft.card.md)"
echo "  report:        $RUN_DIR/report/report.html"
echo "  every stage:   $RUN_DIR/<stage>/ (distill inspect $RUN_DIR/verify)"
