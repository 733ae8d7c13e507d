"""Stage directories: reading inputs, writing shards atomically, manifests and checkpoints."""
