"""Render any attribution as sound: the most-attributed excerpt, and what the model listened to and ignored.

Two renderings, both 16 kHz PCM-16 wav files a person can play:

- **time excerpt** — the most-attributed time regions cut from the original waveform
  and joined with short cross-fades (``__excerpt.wav``); frames are ranked by their
  positive attribution summed over mel bands (evidence *for* the target), so cells that
  argue against it never pull a region in;
- **time-frequency masked resynthesis** — the attribution (mel grid) spread onto the
  STFT grid through the transposed mel filterbank, used as a soft mask in [0, 1] on
  the original STFT and inverted with the original phase: what the model listened to
  (``__listened.wav``) and its complement, what it ignored (``__ignored.wav``).
  Listened + ignored is the original signal.

Honest levels (`RENDER_RULE`): no render is louder than the part of the original it comes
from. The excerpt's source is its regions of the original; listened's and ignored's is the
whole clip. A render keeps its own level — a quiet part stays quiet, which keeps the loudness
cue — and may be raised by at most `MAX_GAIN_DB` (0 dB: never), and never above its source's
RMS; a render louder than its source is turned down to it. The gain applied is recorded
(`AudioRendering.levels`). Peaks are soft-limited so nothing clips.

Excerpts are cut from frames the model heard only (``heard``: frames a GDS-kept patch covers,
`xai.explainers.heard`): regions never include an unheard frame and never merge across one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from seraudit.core.constants import SAMPLE_RATE, STFT_HOP_SAMPLES, STFT_HOP_SECONDS
from seraudit.core.errors import AudioError
from seraudit.core.io import atomic_path
from seraudit.core.naming import slug

#: Largest gain (dB) a render may get, and only up to its source's RMS. 0 dB: renders are never raised, so a
#: near-silent excerpt stays near-silent and "ignored" is as quiet as what the model ignored.
MAX_GAIN_DB = 0.0
#: How the renders are made, in one sentence (the clip page prints it).
RENDER_RULE = ("Excerpts are cut from the original clip where the map's positive attribution is highest, from frames "
               "the model heard only; \"listened\" and \"ignored\" keep or remove the map's time-frequency cells of the "
               "original (soft mask, original phase). No render is louder than the part of the original it comes "
               "from: each keeps its own level, with at most the gain shown beside it (cap {cap:g} dB).")
#: Peak ceiling (full scale) enforced by the limiter.
PEAK_CEILING = 0.98
#: Hops of silence padded at each end before masked resynthesis (covers one 400-sample window).
_EDGE_PAD_HOPS = 3


@dataclass(frozen=True)
class ExcerptOptions:
    """How the time excerpt is chosen.

    Attributes
    ----------
    top_fraction : float
        Keep the frames whose positive attribution ranks in this top fraction of all frames.
    threshold : float or None
        If set, keep instead the frames whose attribution is at least this fraction of the
        largest frame attribution (0-1); `top_fraction` is then ignored.
    merge_gap_s : float
        Regions separated by less than this gap are merged into one.
    min_region_s : float
        Regions shorter than this (after merging) are dropped.
    crossfade_s : float
        Length of the linear cross-fade between joined regions (and of the fade at both ends).
    """

    top_fraction: float = 0.30
    threshold: float | None = None
    merge_gap_s: float = 0.10
    min_region_s: float = 0.10
    crossfade_s: float = 0.010

    def __post_init__(self) -> None:
        if not 0.0 < self.top_fraction <= 1.0:
            raise ValueError(f"top_fraction must be in (0, 1], got {self.top_fraction}")
        if self.threshold is not None and not 0.0 <= self.threshold <= 1.0:
            raise ValueError(f"threshold must be in [0, 1] (fraction of the peak), got {self.threshold}")
        if self.min_region_s < 2 * self.crossfade_s:
            raise ValueError(
                f"min_region_s ({self.min_region_s}) must be at least twice crossfade_s ({self.crossfade_s})"
            )


@dataclass
class AudioRendering:
    """The files written for one attribution and the time regions the excerpt was cut from."""

    excerpt: Path | None
    listened: Path
    ignored: Path
    regions: list[tuple[float, float]] = field(default_factory=list)
    mask_mean: float = float("nan")  # mean of the soft STFT mask: share of the signal "listened to"
    #: Per render ("excerpt", "listened", "ignored"): duration_s, gain_db applied, rms_db of the file and
    #: source_rms_db of the part of the original it comes from (dBFS).
    levels: dict[str, dict[str, float | None]] = field(default_factory=dict)
    max_gain_db: float = MAX_GAIN_DB

    def record(self) -> dict[str, object]:
        """What a clip record keeps of the renders: the gain cap, the excerpt's regions and each render's levels."""
        return {"max_gain_db": self.max_gain_db, "rule": RENDER_RULE.format(cap=self.max_gain_db),
                "excerpt_regions_s": [list(r) for r in self.regions],
                **{kind: dict(level) for kind, level in self.levels.items()}}

    @property
    def files(self) -> list[Path]:
        return [p for p in (self.excerpt, self.listened, self.ignored) if p is not None]


# --------------------------------------------------------------------------- time excerpt


def attributed_regions(
    profile: np.ndarray,
    options: ExcerptOptions = ExcerptOptions(),
    *,
    frame_hop_s: float = STFT_HOP_SECONDS,
    heard: np.ndarray | None = None,
) -> list[tuple[float, float]]:
    """Time regions (start_s, end_s) holding the most positive attribution.

    Frame ``i`` stands for ``[i * hop, (i + 1) * hop)``. Only frames with positive
    attribution can be selected, so a map that is zero outside one region never
    spills into silence-by-ranking. With ``heard`` (``[n]`` bool), only heard frames can be
    selected and two regions merge only when every frame between them is heard.
    """
    profile = np.nan_to_num(np.asarray(profile, dtype=np.float64), nan=0.0)
    n = profile.size
    if n == 0:
        return []
    heard = np.ones(n, bool) if heard is None else np.asarray(heard, bool)
    if heard.shape != (n,):
        raise ValueError(f"heard must have one entry per frame ({n}), got shape {heard.shape}")
    positive = (profile > 0) & heard
    if not positive.any():
        return []
    if options.threshold is not None:
        selected = positive & (profile >= options.threshold * profile.max())
    else:
        k = max(1, int(np.ceil(options.top_fraction * n)))
        order = np.argsort(-profile, kind="stable")
        selected = np.zeros(n, dtype=bool)
        selected[order[:k]] = True
        selected &= positive
    # Runs of selected frames -> [start, end) frame indices.
    edges = np.diff(np.concatenate([[0], selected.astype(np.int8), [0]]))
    starts = np.flatnonzero(edges == 1)
    ends = np.flatnonzero(edges == -1)
    merge_gap = options.merge_gap_s / frame_hop_s
    merged: list[list[int]] = []
    for s, e in zip(starts, ends):
        if merged and s - merged[-1][1] < merge_gap and heard[merged[-1][1] : s].all():
            merged[-1][1] = e
        else:
            merged.append([s, e])
    min_len = options.min_region_s / frame_hop_s - 1e-9
    return [(s * frame_hop_s, e * frame_hop_s) for s, e in merged if e - s >= min_len]


def join_regions(
    waveform: np.ndarray,
    regions: list[tuple[float, float]],
    *,
    sample_rate: int = SAMPLE_RATE,
    crossfade_s: float = 0.010,
) -> np.ndarray:
    """Cut `regions` from `waveform` and join them with linear cross-fades.

    The result lasts ``sum(region lengths) - (len(regions) - 1) * crossfade_s``; both ends
    fade in/out over `crossfade_s` so the excerpt never starts or stops with a click.
    """
    waveform = np.asarray(waveform, dtype=np.float32)
    fade = int(round(crossfade_s * sample_rate))
    pieces = []
    for start_s, end_s in regions:
        a = max(0, int(round(start_s * sample_rate)))
        b = min(waveform.size, int(round(end_s * sample_rate)))
        if b - a > 2 * fade:
            pieces.append(waveform[a:b].copy())
    if not pieces:
        return np.zeros(0, dtype=np.float32)
    if fade == 0:
        return np.concatenate(pieces)
    ramp_in = np.linspace(0.0, 1.0, fade, endpoint=False, dtype=np.float32) + 0.5 / fade
    ramp_out = ramp_in[::-1]
    pieces[0][:fade] *= ramp_in
    pieces[-1][-fade:] *= ramp_out
    out = pieces[0]
    for piece in pieces[1:]:
        overlap = out[-fade:] * ramp_out + piece[:fade] * ramp_in
        out = np.concatenate([out[:-fade], overlap, piece[fade:]])
    return out


# --------------------------------------------------------------------------- masked resynthesis


def mel_to_stft_mask(clip_map: np.ndarray, n_frames: int | None = None, *, use_abs: bool = False) -> np.ndarray:
    """Soft mask in [0, 1] on the STFT grid ``[frames, 257]`` from a mel-grid attribution.

    The map's positive part (or its magnitude with `use_abs`) is scaled to [0, 1] by its
    maximum, then each FFT bin takes the filterbank-weighted average of the mel bands that
    cover it (mel matrix transposed, normalised by each bin's total weight). FFT bins no
    mel band covers (below 125 Hz, above 7.5 kHz) are invisible to the model: mask 0.
    """
    from seraudit.preprocessing.frontend import mel_weight_matrix

    a = np.asarray(clip_map, dtype=np.float64)
    a = np.abs(a) if use_abs else np.clip(a, 0.0, None)
    a = np.nan_to_num(a, nan=0.0)
    peak = a.max() if a.size else 0.0
    a = a / peak if peak > 0 else np.zeros_like(a)
    weights = np.asarray(mel_weight_matrix(), dtype=np.float64)  # [257, 64]
    bin_total = weights.sum(axis=1)
    norm = np.divide(1.0, bin_total, out=np.zeros_like(bin_total), where=bin_total > 1e-12)
    mask = (a @ weights.T) * norm  # [frames, 257]
    if n_frames is not None and n_frames != mask.shape[0]:
        if n_frames < mask.shape[0]:
            mask = mask[:n_frames]
        else:  # STFT frames past the attribution grid: repeat the last frame's mask
            tail = mask[-1:] if mask.shape[0] else np.zeros((1, weights.shape[0]))
            mask = np.concatenate([mask, np.repeat(tail, n_frames - mask.shape[0], axis=0)])
    return np.clip(mask, 0.0, 1.0)


def masked_resynthesis(
    waveform: np.ndarray, clip_map: np.ndarray, *, use_abs: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(listened, ignored, mask): the original STFT times the mask and its complement, inverted.

    Both keep the original phase. The signals are returned before loudness matching, so
    ``listened + ignored`` reconstructs the original.
    """
    from seraudit.preprocessing.frontend import istft, num_frames, stft

    waveform = np.asarray(waveform, dtype=np.float32)
    n = waveform.size
    mask = mel_to_stft_mask(clip_map, num_frames(n), use_abs=use_abs)
    # Pad whole hops of silence at both ends: the analysis window has almost no weight on
    # the first samples, so without padding the renders would fade in; inside the padding
    # that costs nothing. Padding frames copy the edge mask.
    pad = _EDGE_PAD_HOPS * STFT_HOP_SAMPLES
    spec = stft(np.concatenate([np.zeros(pad, np.float32), waveform, np.zeros(pad, np.float32)]))
    head = np.repeat(mask[:1], _EDGE_PAD_HOPS, axis=0)
    tail = np.repeat(mask[-1:], spec.shape[0] - _EDGE_PAD_HOPS - mask.shape[0], axis=0)
    padded_mask = np.concatenate([head, mask, tail])
    length = n + 2 * pad
    listened = np.asarray(istft(spec * padded_mask, length), dtype=np.float32)[pad : pad + n]
    ignored = np.asarray(istft(spec * (1.0 - padded_mask), length), dtype=np.float32)[pad : pad + n]
    return listened, ignored, mask


# --------------------------------------------------------------------------- loudness and files


def rms(signal: np.ndarray) -> float:
    signal = np.asarray(signal, dtype=np.float64)
    return float(np.sqrt(np.mean(signal**2))) if signal.size else 0.0


def db_fs(value: float) -> float | None:
    """An RMS level in dB full scale, None for silence."""
    return round(20 * np.log10(value), 2) if value > 0 else None


def honest_level(signal: np.ndarray, source: np.ndarray, *,
                 max_gain_db: float = MAX_GAIN_DB) -> tuple[np.ndarray, float | None]:
    """`signal` at a level never above `source`'s RMS: raised by at most `max_gain_db` and only up to that RMS,
    turned down to it when louder; then peak-limited. Returns ``(signal, gain_db applied)`` (None: silenced,
    its source being silent)."""
    signal = np.asarray(signal, dtype=np.float64)
    current, target = rms(signal), rms(source)
    gain = 1.0
    if current > 0:
        gain = min(target / current, 10 ** (max_gain_db / 20)) if target > 0 else 0.0
    limited = limit_peaks(signal * gain)
    return limited, (round(float(20 * np.log10(gain)), 2) if gain > 0 else None)


def match_loudness(signal: np.ndarray, reference: np.ndarray, *, max_gain_db: float = 30.0) -> np.ndarray:
    """Scale `signal` to the RMS of `reference` (gain capped at `max_gain_db`), then soft-limit its peaks.

    Not used for the audit's renders (they keep their level, `honest_level`); kept for callers that
    want level-matched sound.
    """
    signal = np.asarray(signal, dtype=np.float64)
    current, target = rms(signal), rms(reference)
    if current > 0 and target > 0:
        signal = signal * min(target / current, 10 ** (max_gain_db / 20))
    return limit_peaks(signal)


def limit_peaks(signal: np.ndarray) -> np.ndarray:
    """Soft-limit peaks: samples below 0.9 of the ceiling stay untouched, louder ones bend smoothly (tanh) towards
    the ceiling, so nothing clips and no sample grows."""
    signal = np.asarray(signal, dtype=np.float64)
    knee = 0.9 * PEAK_CEILING
    mag = np.abs(signal)
    over = mag > knee
    if over.any():
        span = PEAK_CEILING - knee
        mag[over] = knee + span * np.tanh((mag[over] - knee) / span)
        signal = np.sign(signal) * mag
    return signal.astype(np.float32)


def write_wav(path: str | Path, signal: np.ndarray, sample_rate: int = SAMPLE_RATE) -> Path:
    """Write a PCM-16 wav atomically (no half-written file if interrupted)."""
    path = Path(path)
    with atomic_path(path) as tmp:
        sf.write(tmp, np.asarray(signal, dtype=np.float32), sample_rate, subtype="PCM_16", format="WAV")
    return path


def clip_label(attribution, clip_name: str | None = None) -> str:
    """The clip part of output names: `clip_name`, else the attribution's audio file, else ``"clip"``."""
    return str(clip_name or getattr(attribution, "clip_path", "") or "clip")


def render_name(clip: str, model: str, method: str, kind: str) -> str:
    """``<clip>__<model>__<method>__<kind>.wav`` with every part made file-name safe."""
    return f"{slug(Path(str(clip)).stem, 'unnamed')}__{slug(model, 'unnamed')}__{slug(method, 'unnamed')}__{kind}.wav"


def render_attribution_audio(
    attribution,
    waveform: np.ndarray,
    out_dir: str | Path,
    *,
    clip_name: str | None = None,
    sample_rate: int = SAMPLE_RATE,
    options: ExcerptOptions = ExcerptOptions(),
    use_abs: bool = False,
    heard: np.ndarray | None = None,
    max_gain_db: float = MAX_GAIN_DB,
) -> AudioRendering:
    """Write the excerpt, listened and ignored wavs for one attribution of one clip.

    Parameters
    ----------
    attribution : xai.attribution.Attribution
        Any method's attribution; its `clip_map` must lie on `waveform`'s log-mel grid.
    waveform : np.ndarray
        The clip's 16 kHz mono audio (``ClipFeatures.audio.waveform``).
    out_dir : path
        Folder for the wav files (created if needed).
    clip_name : str, optional
        Clip identifier (file name or stem) used in the output names; defaults to the
        attribution's ``clip_path``.
    use_abs : bool
        Use attribution magnitude instead of its positive part (for methods whose sign
        carries no "for/against the target" meaning).
    heard : ndarray of bool, optional
        ``[n_frames]``: the frames the model heard (`xai.explainers.heard.heard_frames`); the
        excerpt is cut from them only. None: every frame.
    max_gain_db : float
        Most a render may be raised, and never above its source's RMS (module docstring).

    Returns
    -------
    AudioRendering
        Paths of the files written (``excerpt`` is None when no frame carries positive
        attribution) and the excerpt's regions in seconds.
    """
    clip_name = clip_label(attribution, clip_name)
    waveform = np.asarray(waveform, dtype=np.float32)
    if sample_rate != SAMPLE_RATE:
        raise AudioError(
            f"{clip_name}: audio renderings need {SAMPLE_RATE} Hz audio, got {sample_rate} Hz; "
            "load the clip with preprocessing.audio.load_audio"
        )
    if waveform.ndim != 1 or waveform.size == 0 or not np.isfinite(waveform).all():
        raise AudioError(f"{clip_name}: waveform must be a finite, non-empty mono signal to render explanations")
    clip_map = np.asarray(attribution.clip_map)
    frame_hop_s = float(getattr(attribution, "frame_hop_s", STFT_HOP_SECONDS))
    out_dir = Path(out_dir)
    model, method = attribution.model, attribution.method

    profile = np.clip(clip_map, 0, None).sum(axis=1) if not use_abs else np.abs(clip_map).sum(axis=1)
    regions = attributed_regions(profile, options, frame_hop_s=frame_hop_s, heard=heard)
    levels: dict[str, dict[str, float | None]] = {}

    def write(kind: str, signal: np.ndarray, source: np.ndarray) -> Path:
        leveled, gain_db = honest_level(signal, source, max_gain_db=max_gain_db)
        levels[kind] = {"duration_s": round(leveled.size / sample_rate, 3), "gain_db": gain_db,
                        "rms_db": db_fs(rms(leveled)), "source_rms_db": db_fs(rms(source))}
        return write_wav(out_dir / render_name(clip_name, model, method, kind), leveled)

    excerpt_path = None
    if regions:
        excerpt = join_regions(waveform, regions, sample_rate=sample_rate, crossfade_s=options.crossfade_s)
        if excerpt.size:
            source = np.concatenate([waveform[max(0, int(round(a * sample_rate))) : int(round(b * sample_rate))]
                                     for a, b in regions])
            excerpt_path = write("excerpt", excerpt, source)

    listened, ignored, mask = masked_resynthesis(waveform, clip_map, use_abs=use_abs)
    listened_path = write("listened", listened, waveform)
    ignored_path = write("ignored", ignored, waveform)
    return AudioRendering(
        excerpt=excerpt_path,
        listened=listened_path,
        ignored=ignored_path,
        regions=[(round(s, 4), round(e, 4)) for s, e in regions],
        mask_mean=float(mask.mean()),
        levels=levels,
        max_gain_db=float(max_gain_db),
    )
