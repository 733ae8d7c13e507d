"""select: keep rows by difficulty, pass rate, length or a sample, per prompt or in total."""
