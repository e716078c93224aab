"""Planted corpora: a copy of a corpus where one emotion's clips carry a cue (a faint tone, or extra leading silence).

A plant writes, into its own folder,

- ``clips/<speaker>/<stem>.wav``: every clip of the slice as 32-bit float WAV at 16 kHz; the clips of the planted
  emotion carry the cue, the others are the source audio unchanged;
- ``removed/<speaker>/<stem>.wav``: for each planted clip, the same clip without the cue (the source audio,
  written the same way), so that a cue-removed prediction differs from the planted one by the cue alone;
- ``manifest.csv``: ``path,label,speaker,corpus`` of the clips (read with ``read_corpus("manifest", ...)``), and
  ``plants.csv``: every clip with ``planted`` and ``removed`` (the cue-removed counterpart, empty when not planted).

**Who carries the cue.** The planted emotion's clips of *every* speaker carry it, training and test speakers
alike. A held-out fold model has learned the cue from the other speakers; the audit explains that model on its
test speakers' clips, so the cue must be on those clips too for the model's use of it to show (a corpus whose
one emotion was recorded in another room is planted like this). The control corpus (``plant=None``) is the same
slice with no cue anywhere.

The two cues:

- ``tone``: a steady sine at `TONE_HZ` (6.75 kHz: inside the log-mel front end's 125-7500 Hz range, where speech
  has little energy) at `TONE_DB` dB relative to the clip's RMS, over the whole clip (10 ms fades, so it adds
  no click). On the log-mel it lights the mel bands whose filters cover `TONE_HZ` (`tone_bands`). The check that
  should catch it is the battery's ``high_band`` edit (everything above 6 kHz removed; the tone ends 70 dB
  down), not the telephone band: a clean head follows the telephone band by itself, since that band also takes
  speech's fundamental and its 3.4-5 kHz balance, and the high band leaves every band emotion research measures.
- ``silence``: `SILENCE_S` seconds of digital silence (zeros) before the clip. Its cells on the log-mel are the
  clip's leading non-speech frames: the planted second and the clip's own silence up to its first voiced frame
  (`seraudit.preprocessing.speech.voiced_mask`, the detector the audit's trim edit uses). A model that learned
  "more leading silence means this emotion" cannot tell the planted second from the clip's own silence (both are
  digital zeros or near them), and the trim edit removes both, so both are the cue's cells (`Plant.cue_cells`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import soundfile as sf

from seraudit.core.constants import FFT_LENGTH, NUM_MEL_BANDS, SAMPLE_RATE, STFT_HOP_SECONDS
from seraudit.core.errors import AudioError, CorpusError
from seraudit.core.io import atomic_path, write_text
from seraudit.preprocessing.audio import load_audio
from seraudit.preprocessing.frontend import mel_weight_matrix

TONE_HZ = 6750.0
TONE_DB = -10.0  # tone RMS relative to the clip's RMS (whole clip)
TONE_FADE_S = 0.010
SILENCE_S = 1.0
MANIFEST = "manifest.csv"
PLANTS_TABLE = "plants.csv"


def tone_bands(frequency_hz: float = TONE_HZ) -> np.ndarray:
    """``[64]`` bool: the mel bands whose triangular filter gives the tone's frequency bin a weight (two neighbours)."""
    weights = mel_weight_matrix()  # [257, 64]
    spectral_bin = int(round(frequency_hz / (SAMPLE_RATE / FFT_LENGTH)))
    return weights[spectral_bin] > 0


def add_tone(waveform: np.ndarray, level_db: float = TONE_DB, frequency_hz: float = TONE_HZ) -> np.ndarray:
    """`waveform` plus a steady sine whose RMS is `level_db` dB relative to the waveform's RMS."""
    waveform = np.asarray(waveform, np.float64)
    rms = float(np.sqrt(np.mean(waveform ** 2)))
    t = np.arange(waveform.size) / SAMPLE_RATE
    tone = np.sqrt(2.0) * rms * 10.0 ** (level_db / 20.0) * np.sin(2 * np.pi * frequency_hz * t)
    fade = min(int(TONE_FADE_S * SAMPLE_RATE), waveform.size // 2)
    if fade:
        ramp = np.linspace(0.0, 1.0, fade)
        tone[:fade] *= ramp
        tone[-fade:] *= ramp[::-1]
    return (waveform + tone).astype(np.float32)


def add_silence(waveform: np.ndarray, seconds: float = SILENCE_S) -> np.ndarray:
    """`waveform` after `seconds` of digital silence."""
    return np.concatenate([np.zeros(int(round(seconds * SAMPLE_RATE)), np.float32), np.asarray(waveform, np.float32)])


def leading_silence_s(waveform: np.ndarray, planted_s: float = SILENCE_S) -> float:
    """Seconds before the first voiced frame of a silence-planted clip (`voiced_mask`), at least the planted ones."""
    from seraudit.preprocessing.speech import HOP_S, voiced_mask

    voiced = np.flatnonzero(voiced_mask(np.asarray(waveform, np.float32), SAMPLE_RATE))
    onset = float(voiced[0]) * HOP_S if voiced.size else 0.0
    return max(float(planted_s), onset)


@dataclass(frozen=True)
class Plant:
    """One planted cue: how it is added, where it sits on the log-mel, and which audit check should catch it.

    `check` is the shortcut edit whose check should fail on a model that uses the cue (the id
    ``shortcut.<check>.<model>``); `occlusion_fill` is the value occlusion hides cells with: it must differ
    from the cue, or hiding the cue changes nothing (the floor removes a tone; silence *is* the floor, so it
    is hidden with the clip's mean log-mel instead). `gds` says whether the runs on this plant pool only the
    GDS-kept patches: a silent patch is dropped by GDS before any head sees it, so a silence cue can only be
    learned (and caught) by runs that pool every patch.
    """

    name: str
    description: str
    check: str
    occlusion_fill: str
    gds: bool
    add: Callable[[np.ndarray, float], np.ndarray]
    level: float  # dB re clip RMS (tone) or seconds (silence)
    unit: str

    def apply(self, waveform: np.ndarray, level: float | None = None) -> np.ndarray:
        return self.add(waveform, self.level if level is None else level)

    def cue_cells(self, waveform: np.ndarray, n_frames: int, level: float | None = None) -> np.ndarray:
        """``[n_frames, 64]`` bool: the log-mel cells the cue occupies on a planted clip (`waveform`, 16 kHz)."""
        cells = np.zeros((n_frames, NUM_MEL_BANDS), bool)
        if self.name == "tone":
            cells[:, tone_bands()] = True
        else:
            cells[: min(n_frames, int(round(leading_silence_s(waveform, self.level if level is None else level)
                                            / STFT_HOP_SECONDS)))] = True
        return cells


PLANTS: dict[str, Plant] = {
    "tone": Plant("tone", f"a steady {TONE_HZ / 1000:g} kHz tone at {TONE_DB:g} dB re the clip's RMS", "high_band",
                  "floor", True, add_tone, TONE_DB, "dB re clip RMS"),
    "silence": Plant("silence", f"{SILENCE_S:g} s of digital silence before the clip", "trim_silence", "mean", False,
                     add_silence, SILENCE_S, "s"),
}


def plant_named(name: str) -> Plant:
    if name not in PLANTS:
        raise CorpusError(f"unknown plant {name!r}; choose from {', '.join(PLANTS)}")
    return PLANTS[name]


@dataclass
class PlantedCorpus:
    """A written planted (or control) corpus: its folder, manifest and clip table."""

    folder: Path
    plant: str | None
    emotion: str
    level: float | None
    table: pd.DataFrame  # path, label, speaker, source, planted, removed
    failures: list[dict]

    @property
    def manifest(self) -> Path:
        return self.folder / MANIFEST

    @property
    def planted(self) -> pd.DataFrame:
        """The clips that carry the cue (with their cue-removed counterparts)."""
        return self.table[self.table["planted"]]


def _write_wav(path: Path, waveform: np.ndarray) -> None:
    with atomic_path(path) as tmp:
        sf.write(tmp, np.asarray(waveform, np.float32), SAMPLE_RATE, format="WAV", subtype="FLOAT")


def write_planted_corpus(table: pd.DataFrame, folder: str | os.PathLike, plant: str | None, emotion: str,
                         level: float | None = None) -> PlantedCorpus:
    """Write `table` (``path,label,speaker``) into `folder` with `plant`'s cue on `emotion`'s clips (module docstring).

    ``plant=None`` writes the control: the same clips, no cue. A clip that cannot be read is recorded in
    ``failures`` (its path and the reason) and left out; the others are written. Existing files with the same
    content are rewritten (the folder is the plant's own).
    """
    folder = Path(folder)
    cue = plant_named(plant) if plant is not None else None
    if emotion not in set(table["label"]):
        raise CorpusError(f"the planted emotion {emotion!r} has no clips in the slice (it holds "
                          f"{', '.join(sorted(set(table['label'])))}); plant one of those")
    rows, failures = [], []
    for record in table.itertuples(index=False):
        source = Path(record.path)
        speaker = str(record.speaker)
        try:
            waveform = load_audio(source).waveform
        except AudioError as error:
            failures.append({"clip": str(source), "error": str(error)})
            continue
        relative = Path(speaker.replace(os.sep, "_")) / f"{source.stem}.wav"
        planted = cue is not None and record.label == emotion
        target = folder / "clips" / relative
        _write_wav(target, cue.apply(waveform, level) if planted else waveform)
        removed = ""
        if planted:
            removed_path = folder / "removed" / relative
            _write_wav(removed_path, waveform)
            removed = str(removed_path)
        rows.append({"path": str(target), "label": record.label, "speaker": speaker, "source": str(source),
                     "planted": planted, "removed": removed})
    if not rows:
        raise CorpusError(f"no clip of the slice could be read ({len(failures)} failed, first: "
                          f"{failures[0]['error'] if failures else 'none'}); check the corpus folder")
    out = pd.DataFrame(rows)
    manifest = out[["path", "label", "speaker"]].assign(corpus="selftest")
    write_text(folder / MANIFEST, manifest.to_csv(index=False))
    write_text(folder / PLANTS_TABLE, out.to_csv(index=False))
    return PlantedCorpus(folder, plant, emotion, (cue.level if level is None else level) if cue else None, out,
                         failures)
