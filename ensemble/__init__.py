"""Emotion classifiers on VGGish/YAMNet: backbones, fusion, training and speaker-independent evaluation."""
