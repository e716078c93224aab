"""One call from an audio file (or samples in memory) to everything the models and explainers consume."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from seraudit.preprocessing.audio import MAX_DURATION_S, LoadedAudio, audio_from_array, load_audio
from seraudit.core.constants import LOG_OFFSET, PATCH_HOP_FRAMES
from seraudit.preprocessing.frontend import log_mel
from seraudit.preprocessing.gds import DEFAULT_GDS_THRESHOLD, GaussianSelection, select_segments
from seraudit.preprocessing.segments import Patches, make_patches


@dataclass(frozen=True)
class ClipFeatures:
    """A clip as the models see it: conformed audio, YAMNet log-mel, patches and the GDS keep-mask."""

    path: str | None
    audio: LoadedAudio
    log_mel: np.ndarray  # float32 [frames, 64], YAMNet log offset (the model input representation)
    patches: Patches
    selection: GaussianSelection

    @property
    def kept_patches(self) -> np.ndarray:
        """The patches GDS keeps, ``[K, 96, 64]`` with ``K >= 1``."""
        return self.patches.data[self.selection.keep]


def clip_features(
    source: str | os.PathLike | tuple[np.ndarray, int],
    *,
    hop_frames: int = PATCH_HOP_FRAMES,
    gds_threshold: float = DEFAULT_GDS_THRESHOLD,
    pad_short: bool = True,
    max_duration_s: float = MAX_DURATION_S,
    require_speech: bool = False,
) -> ClipFeatures:
    """Load ``source`` (a path, or a ``(waveform, sample_rate)`` tuple) and compute its model features.

    Raises `seraudit.core.errors.AudioError` for audio that breaks a loading rule (see `load_audio`).

    Examples
    --------
    >>> f = clip_features((np.sin(np.arange(32_000) * 0.05), 16_000))
    >>> f.log_mel.shape, f.patches.data.shape
    ((200, 64), (4, 96, 64))
    """
    if isinstance(source, tuple):
        waveform, sample_rate = source
        audio = audio_from_array(waveform, sample_rate, pad_short=pad_short, max_duration_s=max_duration_s,
                                 require_speech=require_speech)
    else:
        audio = load_audio(source, pad_short=pad_short, max_duration_s=max_duration_s, require_speech=require_speech)
    features = log_mel(audio.waveform, LOG_OFFSET["yamnet"])
    patches = make_patches(features, hop_frames=hop_frames)
    return ClipFeatures(
        path=audio.path,
        audio=audio,
        log_mel=features,
        patches=patches,
        selection=select_segments(patches.data, threshold=gds_threshold),
    )
