"""distill report: a run's numbers from its stage directories (data, summary), drawn (plots), paged (html)."""
