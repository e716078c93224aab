"""Emotion heads fitted on frozen-backbone clip features: linear, layer mix, attentive, the eGeMAPS baseline, and the search."""
