"""Metrics of attributions: one family, one call shape, one result type."""
