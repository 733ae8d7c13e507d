"""distill plan and generate --dry-run: tokens, cost and wall time of a run before anything is spent."""
