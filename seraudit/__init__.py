"""SERAudit: train and audit a VGGish+YAMNet ensemble for speech emotion recognition."""

__version__ = "0.1.0"
