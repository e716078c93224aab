"""Where a map's evidence sits: its share on frames the model never heard, and on frames without voice.

Both are shares of the map's positive attribution (evidence *for* the target), per
model, method and clip:

* **unheard mass** — on frames no GDS-kept patch covers (`xai.explainers.heard`). The
  clip's prediction never saw them, so the share must be 0: the rule that builds every
  attribution zeroes them, and this check (threshold `UNHEARD_MAX`) proves it held.
* **non-speech mass** — on frames the speech detector of `preprocessing.speech` (Silero VAD,
  the voicing rule as fallback) calls non-speech (silence, noise, clicks). Its control is a uniform map over the
  heard frames: the share of heard frames that are non-speech. A map that follows the
  voice puts less there than the uniform map; the check asks whether it does over clips
  (the per-clip threshold is the control).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from seraudit.core.constants import SAMPLE_RATE, STFT_HOP_SECONDS, STFT_WINDOW_SECONDS
from seraudit.xai.explainers.heard import heard_frames, positive_share
from seraudit.xai.metrics.base import Metric, MetricContext, MetricResult

#: The unheard-mass check passes below this share (numerically zero).
UNHEARD_MAX = 1e-6


def speech_frames(clip: Any, n_frames: int | None = None, frame_hop_s: float = STFT_HOP_SECONDS) -> np.ndarray:
    """``[n_frames]`` bool on the log-mel grid: frames whose centre lies in a voiced frame of `preprocessing.speech`."""
    from seraudit.preprocessing.speech import FRAME_S, HOP_S, voiced_mask

    n_frames = int(clip.log_mel.shape[0]) if n_frames is None else int(n_frames)
    voiced = voiced_mask(np.asarray(clip.audio.waveform, dtype=np.float32), SAMPLE_RATE)
    if voiced.size == 0:
        return np.zeros(n_frames, bool)
    centres = np.arange(n_frames) * frame_hop_s + STFT_WINDOW_SECONDS / 2
    nearest = np.clip(np.rint((centres - FRAME_S / 2) / HOP_S).astype(np.int64), 0, voiced.size - 1)
    return voiced[nearest]


class UnheardMass(Metric):
    """Share of the map's positive attribution on frames no GDS-kept patch covers (must be 0)."""

    id = "unheard_mass"
    name = "mass on unheard frames"
    description = ("share of the map's positive attribution on frames no GDS-kept patch covers: the model never "
                   "heard them, so it must be 0")
    higher_is_better = False
    threshold = UNHEARD_MAX
    threshold_rule = f"0 by construction: passes below {UNHEARD_MAX:g} (attributions are zeroed on unheard frames)"
    record_key = "unheard_mass"
    check_title = "{method}: no attribution on unheard frames ({model})"

    def __call__(self, context: MetricContext) -> MetricResult:
        heard = context.memo("heard_frames", lambda: heard_frames(context.clip))
        clip_map = np.asarray(context.attribution.clip_map)
        share = positive_share(clip_map, ~heard)
        return self.result(share, heard_frames=int(heard.sum()), n_frames=int(heard.size))


class NonSpeechMass(Metric):
    """Share of the map's positive attribution on non-speech frames, against a uniform map over the heard frames."""

    id = "non_speech_mass"
    name = "mass on non-speech frames"
    description = ("share of the map's positive attribution on frames the speech detector (preprocessing.speech) calls "
                   "non-speech; control: a uniform map over the heard frames")
    higher_is_better = False
    control_name = "uniform map over heard frames"
    threshold_rule = ("per clip, what a uniform map over the heard frames puts on non-speech frames; the check passes "
                      "when the map's share is below it over clips (gain interval above 0)")
    record_key = "non_speech_mass"
    control_key = "non_speech_mass_uniform"
    check_title = "{method}: attribution follows the voice ({model})"

    def __call__(self, context: MetricContext) -> MetricResult:
        clip_map = np.asarray(context.attribution.clip_map)
        heard = context.memo("heard_frames", lambda: heard_frames(context.clip))
        speech = context.memo("speech_frames", lambda: speech_frames(context.clip, clip_map.shape[0]))
        non_speech = ~speech
        share = positive_share(clip_map, non_speech)
        uniform = float(non_speech[heard].mean()) if heard.any() else float(non_speech.mean())
        return self.result(share, uniform, threshold=uniform,
                           speech_frames=int(speech.sum()), heard_frames=int(heard.sum()))
