"""Stage directories in ONE place: inputs, atomic writes, checkpoints, manifests, and the runner with its executors."""
