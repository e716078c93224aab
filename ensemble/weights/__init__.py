"""Backbone weight files: official downloads, TF Hub handles, the readers of their formats, and the port check."""
