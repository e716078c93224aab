"""What a model is: its spec, its one flat Keras graph, the layers of its heads and clip pooling, the trained model."""
