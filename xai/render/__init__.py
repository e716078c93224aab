"""Attributions rendered for people: as sound and as pictures."""
