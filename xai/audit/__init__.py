"""The audit of a batch of clips: plan, computation, folder, summary and verdict checks."""
