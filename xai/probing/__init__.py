"""What embeddings encode: eGeMAPS probing and a clip's deviation from its speaker's voice."""
