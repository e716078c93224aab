"""Audit suite: attribution methods, audio renderings of explanations, and faithfulness metrics."""
