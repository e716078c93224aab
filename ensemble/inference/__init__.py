"""A trained run applied to files: predictions, test-time copies, embeddings, shared tower passes."""
