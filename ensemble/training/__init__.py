"""Training: the estimator, fine-tuning, and one run end to end (in-corpus or cross-corpus)."""
