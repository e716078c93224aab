"""The layer that lets VGGish read the project's YAMNet-offset log-mel input exactly.

Kept apart from `ensemble.backbones.vggish` so that module (and the backbone
registry that lists it) imports without Keras; the layer is registered as
``seraudit>LogOffsetShift`` for Keras serialisation, as it always was.
"""

from __future__ import annotations

import math

import keras


@keras.saving.register_keras_serializable(package="seraudit")
class LogOffsetShift(keras.layers.Layer):
    """Turns log(mel + from_offset) into log(mel + to_offset) without knowing mel.

    log(exp(x) + (b - a)) computed as logaddexp(x, log(b - a)), which is exact and
    never overflows, so the VGGish tower can share the YAMNet-offset input.
    """

    def __init__(self, from_offset: float, to_offset: float, **kwargs):
        super().__init__(**kwargs)
        if not to_offset > from_offset:
            raise ValueError(f"to_offset ({to_offset}) must exceed from_offset ({from_offset})")
        self.from_offset = float(from_offset)
        self.to_offset = float(to_offset)
        self._log_gap = math.log(self.to_offset - self.from_offset)

    def call(self, x):
        return keras.ops.logaddexp(x, keras.ops.cast(self._log_gap, x.dtype))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "from_offset": self.from_offset, "to_offset": self.to_offset}
