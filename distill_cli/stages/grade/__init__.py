"""grade: difficulty per (prompt, model) from pass rate and the coefficient of variation of scores."""
