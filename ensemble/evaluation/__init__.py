"""Scores of predictions: metrics, paired comparisons, and the facts a run's report shows."""
