"""The audit auditing itself: corpora with a planted cue, heads trained on them, and whether the audit catches each plant."""
