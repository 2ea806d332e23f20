"""Quality: task accuracy by log-likelihood (lm-eval semantics), perplexity and KL-divergence."""
