"""A corpus made ready for training: clip table, speaker folds, cached embeddings and augmented copies."""
