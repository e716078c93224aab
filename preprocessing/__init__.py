"""Audio in, VGGish/YAMNet log-mel patches out, with Gaussian data selection and corpus readers."""
