"""score: the log-probabilities of existing traces under a model (teacher top-K, student perplexity, divergence)."""
