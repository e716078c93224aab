"""Pretrained audio networks as flat Keras graphs, with loaders for the official weights."""
