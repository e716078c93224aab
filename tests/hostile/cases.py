"""The hostile inputs, built from nothing: every kind of bad (and oddly good) file a real corpus folder holds.

Each case is a `Case`: a file (or path) and what a command must do with it:
``"ok"`` (a result), ``"warn"`` (a result with the "no speech detected" warning) or
``"error"`` with a phrase the message must contain (the message always names the file).
"""

from __future__ import annotations

import functools
import os
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

RATE = 16_000
LIMIT_S = 8.0  # --max-duration of the suite: the long clip sits just under it


@dataclass(frozen=True)
class Case:
    name: str
    path: Path
    outcome: str  # "ok", "warn" or "error"
    phrase: str = ""  # what the error message says (besides the file name)


def voice(seconds: float = 1.5, rate: int = RATE, f0: float = 140.0, seed: int = 0) -> np.ndarray:
    """A voiced, speech-like signal: a glottal-pulse-like harmonic series with vibrato and syllable-rate
    loudness, in three 'syllables' separated by pauses. Not speech, but what the speech rule measures as voiced."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    pitch = f0 * (1 + 0.03 * np.sin(2 * np.pi * 5 * t))
    phase = 2 * np.pi * np.cumsum(pitch) / rate
    wave = sum(np.sin(k * phase) / k for k in range(1, 12) if k * f0 < rate / 2.2)
    envelope = np.clip(np.sin(2 * np.pi * 2.0 * t), 0, None) ** 0.5  # syllables at 4 Hz with pauses
    out = 0.3 * wave * envelope / np.abs(wave).max() + 1e-4 * rng.standard_normal(t.size)
    return out.astype(np.float32)


@functools.lru_cache(maxsize=None)
def _sentence(rate: int) -> np.ndarray:
    """An espeak-ng sentence at `rate`, from its first to its last sound."""
    with tempfile.TemporaryDirectory() as folder:
        wav = Path(folder) / "sentence.wav"
        subprocess.run(["espeak-ng", "-w", str(wav), "Kids are talking by the door, and the dogs are sitting by it."],
                       check=True, capture_output=True)
        data, native = sf.read(str(wav), dtype="float32")
    data = soxr.resample(data, native, rate) if native != rate else data
    sounding = np.flatnonzero(np.abs(data) > 1e-3)
    return data[sounding[0]: sounding[-1] + 1]


def spoken(seconds: float = 1.5, rate: int = RATE, seed: int = 0) -> np.ndarray:
    """Real speech for the cases that must give a result without the "no speech detected" warning: `seconds` of an
    espeak-ng sentence (from a `seed`-chosen start), at -20 dBFS RMS, with faint noise. A synthetic buzz (`voice`) is
    not speech to the speech detector (Silero VAD, `seraudit.preprocessing.speech`)."""
    rng = np.random.default_rng(seed)
    sentence = _sentence(rate)
    n = int(seconds * rate)
    start = int(rng.integers(0, max(1, sentence.size - n))) if seed else 0
    out = np.resize(sentence[start:], n).astype(np.float64)
    out = out / np.sqrt(np.mean(out**2)) * 0.1 + 1e-4 * rng.standard_normal(n)
    return out.astype(np.float32)


def _wav(path: Path, data: np.ndarray, rate: int = RATE, subtype: str | None = "PCM_16", fmt: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), data, rate, subtype=subtype, format=fmt)
    return path


def good_cases(root: Path) -> list[Case]:
    """Files that must give a result: every bit depth, 8-96 kHz, 1-8 channels, odd names."""
    root.mkdir(parents=True, exist_ok=True)
    cases = []
    for subtype in ("PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"):
        cases.append(Case(f"bit depth {subtype}", _wav(root / f"depth_{subtype}.wav", spoken(), subtype=subtype), "ok"))
    for rate in (8_000, 22_050, 44_100, 96_000):
        cases.append(Case(f"rate {rate} Hz", _wav(root / f"rate_{rate}.flac", spoken(rate=rate), rate, subtype="PCM_16"), "ok"))
    for channels in (2, 6, 8):
        data = np.stack([spoken(seed=c) * (1 - 0.1 * c) for c in range(channels)], axis=1)
        cases.append(Case(f"{channels} channels", _wav(root / f"channels_{channels}.wav", data), "ok"))
    for name in ("name with spaces.wav", "ünïcödé-名前.wav", "quote'and\"double.wav", "-leading-dash.wav",
                 "<b>html</b>.wav", "UPPER.WAV"):
        cases.append(Case(f"odd name {name!r}", _wav(root / name, spoken()), "ok"))
    cases.append(Case("short 0.5 s (padded)", _wav(root / "short.wav", spoken(0.5)), "ok"))
    return cases


def noise_cases(root: Path) -> list[Case]:
    """Usable audio with no speech in it: a result, with the warning."""
    rng = np.random.default_rng(7)
    root.mkdir(parents=True, exist_ok=True)
    return [
        Case("white noise 3 s", _wav(root / "white_noise.wav", (0.3 * rng.standard_normal(3 * RATE)).astype(np.float32)), "warn"),
        Case("2 LSB above silence", _wav(root / "two_lsb.wav", (rng.integers(-2, 3, 3 * RATE) / 32768).astype(np.float32)), "warn"),
    ]


def broken_cases(root: Path, max_duration_s: float) -> list[Case]:
    """Files that must be refused, each with the phrase its message carries."""
    root.mkdir(parents=True, exist_ok=True)
    good = _wav(root / ".template.wav", voice())
    header = good.read_bytes()
    cases = []

    def raw(name: str, data: bytes, outcome_phrase: str, label: str) -> None:
        path = root / name
        path.write_bytes(data)
        cases.append(Case(label, path, "error", outcome_phrase))

    raw("empty.wav", b"", "libsndfile cannot decode it", "0-byte file")
    raw("truncated_header.wav", header[:20], "libsndfile cannot decode it", "truncated header")
    raw("random_bytes.wav", np.random.default_rng(3).bytes(4000), "libsndfile cannot decode it", "random bytes")
    raw("text.flac", b"this is a text file, renamed\n" * 50, "libsndfile cannot decode it", "text renamed .flac")
    zero_rate = bytearray(header)
    zero_rate[24:28] = struct.pack("<I", 0)  # the fmt chunk's sample rate
    raw("rate_zero.wav", bytes(zero_rate), "", "rate 0 in the header")
    nan = voice()
    nan[100] = np.nan
    cases.append(Case("NaN sample", _wav(root / "nan.wav", nan, subtype="FLOAT"), "error", "NaN or infinite"))
    inf = voice()
    inf[200] = np.inf
    cases.append(Case("+Inf sample", _wav(root / "inf.wav", inf, subtype="FLOAT"), "error", "NaN or infinite"))
    cases.append(Case("digital silence", _wav(root / "silence.wav", np.zeros(RATE, np.float32)), "error", "digitally silent"))
    cases.append(Case("1 sample", _wav(root / "one_sample.wav", np.array([0.5], np.float32)), "error", "too short"))
    cases.append(Case("0.05 s", _wav(root / "tiny.wav", voice(0.05)), "error", "too short to pad"))
    left = voice(2.0)
    cases.append(Case("channels that cancel", _wav(root / "cancel.wav", np.stack([left, -left], axis=1), subtype="FLOAT"),
                      "error", "cancel in the mono mix"))
    cases.append(Case("DC only", _wav(root / "dc.wav", np.full(3 * RATE, 0.25, np.float32), subtype="FLOAT"),
                      "error", "only a DC offset"))
    over = _wav(root / "over_limit.wav", np.tile(voice(1.0), int(max_duration_s) + 2))
    cases.append(Case("over the duration limit", over, "error", "longer than the"))
    return cases


def path_cases(root: Path) -> list[Case]:
    """Paths that are not readable regular files, each with its own message."""
    root.mkdir(parents=True, exist_ok=True)
    pipe = root / "pipe.wav"
    os.mkfifo(pipe)
    folder = root / "folder.wav"
    folder.mkdir()
    loop_a, loop_b = root / "loop_a.wav", root / "loop_b.wav"
    os.symlink(loop_b, loop_a)
    os.symlink(loop_a, loop_b)
    dangling = root / "dangling.wav"
    os.symlink(root / "gone.wav", dangling)
    return [
        Case("named pipe", pipe, "error", "a named pipe (FIFO), not a regular file"),
        Case("directory named x.wav", folder, "error", "a directory, not a regular file"),
        Case("symlink loop", loop_a, "error", "symbolic link loops"),
        Case("dangling symlink", dangling, "error", "symbolic link is dangling"),
        Case("character device", Path(os.devnull), "error", "a character device"),
        Case("missing file", root / "absent.wav", "error", "no such file"),
    ]
