"""Read any audio libsndfile understands and conform it to the models' input: float32 mono 16 kHz in [-1, 1].

Every rule a clip must pass (a readable regular file, non-empty, decodable, finite, not
digitally silent, not a DC offset alone, not channels that cancel in the mono mix, long
enough for one patch, not longer than ``max_duration_s``) is checked here, once, and a
failure is an `AudioError` that names the file, the rule and the fix. The silence checks
run on what the model hears: the mono mix, with its DC offset removed.

Every loaded clip also carries its share of voiced frames (`preprocessing.speech`):
``LoadedAudio.warnings`` holds ``"no speech detected"`` when it is too low, and
``require_speech=True`` turns that into an `AudioError`.

Padding policy for short clips (``pad_short=True``, the default): a clip shorter than
one patch (`MIN_PATCH_SAMPLES`, 0.96 s at 16 kHz) but at least `MIN_DURATION_S` long is
zero-padded *at the end* to exactly one patch, and the added seconds are reported in
`LoadedAudio.padded_s`. Zero padding is what Google's YAMNet does to short input, and
Gaussian data selection later treats the padded frames as silence. With
``pad_short=False`` a short clip is an error instead.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from seraudit.core.constants import MIN_PATCH_SAMPLES, SAMPLE_RATE
from seraudit.core.errors import AudioError
from seraudit.preprocessing.speech import NO_SPEECH_WARNING, speech_check

MAX_DURATION_S = 600.0  # default refusal limit: 10 minutes is ~38 MB of float32 at 16 kHz
MIN_DURATION_S = 0.1  # below this a clip is refused even with padding: it would be >90 % zeros
SILENCE_PEAK = 2.0**-15  # at most one 16-bit step from zero everywhere counts as digital silence
RESAMPLER_QUALITY = "VHQ"  # soxr "very high quality" (better than the 'HQ' floor we require)


@dataclass(frozen=True)
class LoadedAudio:
    """A clip conformed to the model input, with what it looked like before.

    ``duration_s`` is the length of the real audio (padding excluded); ``padded_s`` is the
    length of zeros appended by the short-clip policy (0.0 when none).
    """

    waveform: np.ndarray  # float32 [n], mono, 16 kHz, in [-1, 1]
    path: str | None  # None for in-memory audio
    original_sample_rate: int
    original_channels: int
    duration_s: float
    padded_s: float
    speech_fraction: float = 1.0  # share of voiced frames (preprocessing.speech)
    warnings: tuple[str, ...] = ()  # e.g. ("no speech detected",): usable, but say so with every result

    @property
    def sample_rate(self) -> int:
        return SAMPLE_RATE


def to_model_rate(waveform: np.ndarray, sample_rate: int) -> np.ndarray:
    """Down-mix ``[n]`` or ``[n, channels]`` audio to mono and resample it to 16 kHz with soxr.

    The result is float32 and clipped to [-1, 1] (a band-limited resampler may overshoot
    full-scale input by a fraction of a percent).

    Examples
    --------
    >>> to_model_rate(np.zeros((48_000, 2), np.float32), 48_000).shape
    (16000,)
    """
    data = np.asarray(waveform, dtype=np.float32)
    if data.ndim not in (1, 2):
        raise ValueError(f"waveform must be [n] or [n, channels], got shape {data.shape}")
    if int(sample_rate) <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    mono = data if data.ndim == 1 else data.mean(axis=1, dtype=np.float32)
    if int(sample_rate) != SAMPLE_RATE and mono.size:
        mono = soxr.resample(mono, int(sample_rate), SAMPLE_RATE, quality=RESAMPLER_QUALITY)
    return np.clip(mono, -1.0, 1.0).astype(np.float32, copy=False)


def _fail(source: str, problem: str, rule: str, fix: str) -> AudioError:
    return AudioError(f"{source}: {problem} (rule: {rule}); fix: {fix}")


_RULE_FILE = "the audio path must name a readable regular file"


def check_audio_path(path: str | os.PathLike) -> Path:
    """Say exactly what is wrong with a path before anything opens it: missing, dangling or looping
    symbolic link, not a regular file (directory, named pipe, device, socket), or not readable.

    A named pipe or a device is never opened (opening a pipe waits for a writer forever).
    """
    file = Path(path)
    name = str(file)
    try:
        info = os.stat(file)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise _fail(name, "the symbolic link loops back on itself", _RULE_FILE,
                        "point the link at the audio file (`ls -l` shows where it leads)") from None
        if error.errno in (errno.EACCES, errno.EPERM):
            raise _fail(name, "a folder on the path cannot be entered (no permission)", _RULE_FILE,
                        "grant execute permission on the folders (chmod +x) or copy the file somewhere readable") from None
        if os.path.islink(file):
            raise _fail(name, f"the symbolic link is dangling (its target {os.readlink(file)!r} does not exist)",
                        _RULE_FILE, "fix or remove the link") from None
        if error.errno == errno.ENOTDIR:
            raise _fail(name, "a part of the path is a file, not a folder", _RULE_FILE, "check the path") from None
        raise _fail(name, "no such file", "the audio path must name an existing file",
                    "check the path (and the corpus root it was joined to)") from None
    mode = info.st_mode
    kinds = [(stat.S_ISDIR, "a directory", "pass the audio files inside it, not the folder"),
             (stat.S_ISFIFO, "a named pipe (FIFO)", "write the audio to a regular file first; pipes are never read"),
             (stat.S_ISCHR, "a character device", "pass a regular audio file"),
             (stat.S_ISBLK, "a block device", "pass a regular audio file"),
             (stat.S_ISSOCK, "a socket", "pass a regular audio file")]
    for test, kind, fix in kinds:
        if test(mode):
            raise _fail(name, f"it is {kind}, not a regular file", _RULE_FILE, fix)
    if not stat.S_ISREG(mode):
        raise _fail(name, "it is not a regular file", _RULE_FILE, "pass a regular audio file")
    try:
        os.close(os.open(file, os.O_RDONLY))
    except PermissionError:
        raise _fail(name, "no permission to read it", _RULE_FILE,
                    "grant read permission (chmod +r) or run as a user who may read it") from None
    except OSError as error:
        raise _fail(name, f"it cannot be opened ({error.strerror})", _RULE_FILE, "check the file and its disk") from None
    return file


def _check_duration(source: str, n_samples: int, sample_rate: int, max_duration_s: float) -> float:
    duration_s = n_samples / sample_rate
    if duration_s > max_duration_s:
        raise _fail(source, f"{duration_s:.1f} s of audio is longer than the {max_duration_s:g} s limit",
                    "clips are refused above max_duration_s so one file cannot exhaust memory",
                    "split it into shorter clips (e.g. `sox in.wav out.wav trim 0 60 : newfile : restart`) "
                    "or raise max_duration_s")
    return duration_s


@dataclass
class _Levels:
    """What the input rules need to know about decoded samples, gathered block by block."""

    frames: int = 0
    channels: int = 1
    nonfinite: int = 0
    peak: float = 0.0  # over every channel
    mono_peak: float = 0.0
    mono_min: float = np.inf
    mono_max: float = -np.inf
    mono_sum: float = 0.0

    def add(self, block: np.ndarray) -> np.ndarray:
        """Count `block` ``[n, channels]`` in; returns its mono mix (what the model hears)."""
        self.frames += len(block)
        self.channels = block.shape[1]
        finite = np.isfinite(block)
        self.nonfinite += int(block.size - np.count_nonzero(finite))
        mono = block[:, 0] if block.shape[1] == 1 else block.mean(axis=1, dtype=np.float32)
        if len(block) and not self.nonfinite:
            self.peak = max(self.peak, float(np.abs(block).max()))
            self.mono_peak = max(self.mono_peak, float(np.abs(mono).max()))
            self.mono_min = min(self.mono_min, float(mono.min()))
            self.mono_max = max(self.mono_max, float(mono.max()))
            self.mono_sum += float(mono.sum(dtype=np.float64))
        return mono


def _check_levels(source: str, levels: _Levels, sample_rate: int, pad_short: bool, max_duration_s: float) -> float:
    """Every rule on the samples themselves (empty, length, finite, silence, cancelling channels, DC); the duration."""
    if levels.frames == 0:
        raise _fail(source, "the audio holds no samples", "audio must not be empty",
                    "re-export the recording, or leave the file out of the corpus")
    duration_s = _check_duration(source, levels.frames, sample_rate, max_duration_s)
    if levels.nonfinite:
        raise _fail(source, f"{levels.nonfinite} samples are NaN or infinite", "every sample must be a finite number",
                    "re-export the file as 16-bit PCM WAV or FLAC from the original recording")
    if pad_short and duration_s < MIN_DURATION_S:  # before the level checks: a 1-sample file is too short, not "DC"
        raise _fail(source, f"{duration_s:.3f} s is too short to pad",
                    f"short clips are zero-padded only from {MIN_DURATION_S:g} s up",
                    "use a clip of at least 0.1 s (ideally a whole utterance)")
    peak = levels.peak
    if peak <= SILENCE_PEAK:
        raise _fail(source, f"the audio is digitally silent (peak {peak:.2e})",
                    "a clip needs at least one sample above one 16-bit step (2^-15)",
                    "check the recording level or the export, or leave the file out")
    if levels.mono_peak <= SILENCE_PEAK:
        raise _fail(source, f"its {levels.channels} channels cancel in the mono mix (each peaks at {peak:.2e}, the mix at "
                    f"{levels.mono_peak:.2e})", "the mono mix the model hears must not be silent",
                    "the channels are in opposite phase: keep one channel (`sox in.wav out.wav remix 1`) or fix the wiring")
    offset = levels.mono_sum / levels.frames
    ac_peak = max(levels.mono_max - offset, offset - levels.mono_min)
    if ac_peak <= SILENCE_PEAK:
        raise _fail(source, f"it holds only a DC offset ({offset:+.3g}), no sound (peak {ac_peak:.2e} "
                    "once the offset is removed)", "the mix must hold sound once its DC offset is removed",
                    "check the microphone or the export; a constant signal is not a recording")
    return duration_s


def _finish(
    waveform: np.ndarray,
    levels: _Levels,
    sample_rate: int,
    duration_s: float,
    *,
    source: str,
    path: str | None,
    pad_short: bool,
    require_speech: bool,
) -> LoadedAudio:
    """The rules on what the model hears (speech, one patch at least) and the padding policy."""
    fraction, speechless = speech_check(waveform)
    warnings = (NO_SPEECH_WARNING,) if speechless else ()
    if warnings and require_speech:
        raise _fail(source, f"no speech detected ({100 * fraction:.1f} % voiced frames)",
                    "`require_speech`: a clip must hold voiced, speech-like sound (see seraudit.preprocessing.speech)",
                    "leave the file out, or leave `require_speech` off to keep it with a warning")
    padded = 0
    if waveform.size < MIN_PATCH_SAMPLES:
        needed_s = MIN_PATCH_SAMPLES / SAMPLE_RATE
        if not pad_short:
            raise _fail(source, f"{duration_s:.3f} s is shorter than one {needed_s:.3f} s patch",
                        "a clip must fill one 96-frame patch",
                        "load it with pad_short=True to zero-pad it at the end, or use a longer clip")
        if duration_s < MIN_DURATION_S:
            raise _fail(source, f"{duration_s:.3f} s is too short to pad",
                        f"short clips are zero-padded only from {MIN_DURATION_S:g} s up",
                        "use a clip of at least 0.1 s (ideally a whole utterance)")
        padded = MIN_PATCH_SAMPLES - waveform.size
        waveform = np.pad(waveform, (0, padded))
    return LoadedAudio(
        waveform=waveform,
        path=path,
        original_sample_rate=int(sample_rate),
        original_channels=int(levels.channels),
        duration_s=float(duration_s),
        padded_s=padded / SAMPLE_RATE,
        speech_fraction=float(fraction),
        warnings=warnings,
    )


def _conform(
    data: np.ndarray,
    sample_rate: int,
    *,
    source: str,
    path: str | None,
    pad_short: bool,
    max_duration_s: float,
    require_speech: bool = False,
) -> LoadedAudio:
    """Apply every input rule to decoded samples ``[n, channels]`` and resample them."""
    levels = _Levels()
    levels.add(data)
    duration_s = _check_levels(source, levels, sample_rate, pad_short, max_duration_s)
    waveform = to_model_rate(data, sample_rate)
    return _finish(waveform, levels, sample_rate, duration_s, source=source, path=path, pad_short=pad_short,
                   require_speech=require_speech)


DECODE_BLOCK_FRAMES = 1 << 16  # frames decoded at once: peak memory follows the 16 kHz output, not the file's format


def _decode_stream(file: Path, sample_rate: int) -> tuple[np.ndarray, _Levels]:
    """Decode, down-mix and resample `file` block by block (soxr's stream resampler gives the same samples as
    `to_model_rate` on the whole signal), so a 96 kHz 8-channel file never sits in memory whole."""
    levels = _Levels()
    resampler = None if sample_rate == SAMPLE_RATE else soxr.ResampleStream(
        sample_rate, SAMPLE_RATE, 1, dtype="float32", quality=RESAMPLER_QUALITY)
    parts = []
    with sf.SoundFile(str(file)) as handle:
        while True:
            block = handle.read(DECODE_BLOCK_FRAMES, dtype="float32", always_2d=True)
            last = len(block) < DECODE_BLOCK_FRAMES
            mono = levels.add(block)
            parts.append(mono.copy() if resampler is None else resampler.resample_chunk(mono, last=last))
            if last:
                break
    waveform = np.concatenate(parts).astype(np.float32, copy=False) if parts else np.zeros(0, np.float32)
    del parts
    return np.clip(waveform, -1.0, 1.0, out=waveform), levels


def load_audio(
    path: str | os.PathLike,
    *,
    pad_short: bool = True,
    max_duration_s: float = MAX_DURATION_S,
    require_speech: bool = False,
) -> LoadedAudio:
    """Read a WAV/FLAC/OGG/... file (any rate, bit depth or channel count) as the models' input.

    Raises `AudioError` naming the file when it is missing, unreadable, empty, non-finite,
    digitally silent, too short (see the module's padding policy) or too long.

    Examples
    --------
    >>> clip = load_audio("../shared/data/ravdess/Actor_01/03-01-01-01-01-01-01.flac")  # doctest: +SKIP
    >>> clip.waveform.dtype, clip.padded_s  # doctest: +SKIP
    (dtype('float32'), 0.0)
    """
    file = check_audio_path(path)
    try:
        info = sf.info(str(file))
    except (sf.LibsndfileError, RuntimeError) as err:
        raise _fail(str(file), f"libsndfile cannot decode it ({err})",
                    "audio must be a format libsndfile reads (WAV, FLAC, OGG, ...)",
                    "re-export it as 16-bit PCM WAV or FLAC") from err
    # Refuse before decoding: the limit exists so a huge file is never read into memory.
    _check_duration(str(file), info.frames, info.samplerate, max_duration_s)
    try:
        waveform, levels = _decode_stream(file, info.samplerate)
    except (sf.LibsndfileError, RuntimeError) as err:
        raise _fail(str(file), f"libsndfile cannot decode it ({err})",
                    "audio must be a format libsndfile reads (WAV, FLAC, OGG, ...)",
                    "re-export it as 16-bit PCM WAV or FLAC") from err
    duration_s = _check_levels(str(file), levels, info.samplerate, pad_short, max_duration_s)
    return _finish(waveform, levels, info.samplerate, duration_s, source=str(file), path=str(file), pad_short=pad_short,
                   require_speech=require_speech)


def audio_from_array(
    waveform: np.ndarray,
    sample_rate: int,
    *,
    name: str = "<in-memory audio>",
    pad_short: bool = True,
    max_duration_s: float = MAX_DURATION_S,
    require_speech: bool = False,
) -> LoadedAudio:
    """Apply `load_audio`'s rules to samples already in memory (``[n]`` or ``[n, channels]``).

    ``name`` stands in for the file name in error messages.
    """
    data = np.asarray(waveform, dtype=np.float32)
    if data.ndim == 1:
        data = data[:, None]
    if data.ndim != 2:
        raise _fail(name, f"samples have shape {data.shape}", "audio must be [n] or [n, channels]",
                    "pass a 1-D mono array or a [samples, channels] array")
    if int(sample_rate) <= 0:
        raise _fail(name, f"sample rate {sample_rate}", "the sample rate must be a positive integer",
                    "pass the rate the samples were recorded at")
    return _conform(data, int(sample_rate), source=name, path=None, pad_short=pad_short,
                    max_duration_s=max_duration_s, require_speech=require_speech)
