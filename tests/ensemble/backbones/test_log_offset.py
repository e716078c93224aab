"""VGGish reads the YAMNet-offset log-mel exactly: log(mel + 0.001) becomes log(mel + 0.01), even for silence."""

from __future__ import annotations

import numpy as np
import pytest

from seraudit.ensemble.backbones.log_offset import LogOffsetShift


def test_the_shift_is_exact_from_silence_to_loud_bins():
    mel = np.array([[0.0, 1e-6, 0.5, 3e4]], dtype=np.float32)
    shifted = np.asarray(LogOffsetShift(0.001, 0.01)(np.log(mel + 0.001)))
    np.testing.assert_allclose(shifted, np.log(mel + 0.01), rtol=1e-5)


def test_a_shift_to_a_smaller_offset_is_refused():
    with pytest.raises(ValueError, match="must exceed"):
        LogOffsetShift(0.01, 0.001)
