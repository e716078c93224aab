"""Augmentations do exactly what they claim: the requested SNR, gain and shift, the requested masks, convex mixup, seeded copies."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from seraudit.preprocessing.augment import (
    LOG_FLOOR,
    Augmentation,
    add_noise,
    apply_gain,
    augmented_copies,
    mixup,
    spec_augment,
    time_shift,
)

SR = 16_000


def tone(seconds: float = 1.0, amplitude: float = 0.3, hz: float = 220.0) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def snr_db(clean: np.ndarray, noisy: np.ndarray) -> float:
    clean = clean.astype(np.float64)
    noise = noisy.astype(np.float64) - clean
    return 10 * np.log10(np.mean(clean**2) / np.mean(noise**2))


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Contiguous True stretches of a 1-D mask as (start, width)."""
    edges = np.diff(np.concatenate([[0], mask.astype(int), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return list(zip(starts.tolist(), (ends - starts).tolist()))


@pytest.mark.parametrize("colour", ["white", "pink"])
@pytest.mark.parametrize("target", [0.0, 10.0, 23.5])
def test_noise_is_added_at_the_requested_snr(rng, colour, target):
    clean = tone()
    noisy = add_noise(clean, target, rng, colour)
    assert noisy.dtype == np.float32 and noisy.shape == clean.shape
    assert snr_db(clean, noisy) == pytest.approx(target, abs=0.1)


def test_pink_noise_has_more_power_low_than_high():
    noise = add_noise(np.full(SR, 0.1, dtype=np.float32), 0.0, np.random.default_rng(0), "pink") - 0.1
    power = np.abs(np.fft.rfft(noise)) ** 2
    freqs = np.fft.rfftfreq(SR, 1 / SR)
    low, high = power[(freqs > 100) & (freqs < 500)].mean(), power[(freqs > 4000) & (freqs < 8000)].mean()
    assert low > 5 * high  # 1/f: about 15x between these bands; white noise would give about 1x


def test_a_silent_clip_gets_no_noise(rng):
    silent = np.zeros(SR, dtype=np.float32)
    np.testing.assert_array_equal(add_noise(silent, 10.0, rng), silent)


def test_gain_is_exact_in_decibels_and_clipped_to_full_scale():
    clean = tone(amplitude=0.1)
    for gain in (-6.0, 0.0, 3.5):
        louder = apply_gain(clean, gain)
        ratio_db = 20 * np.log10(np.sqrt(np.mean(louder.astype(np.float64) ** 2) / np.mean(clean.astype(np.float64) ** 2)))
        assert ratio_db == pytest.approx(gain, abs=1e-5)
    clipped = apply_gain(tone(amplitude=0.5), 20.0)
    assert clipped.max() == 1.0 and clipped.min() == -1.0


def test_shift_moves_a_click_and_fills_with_silence():
    click = np.zeros(1000, dtype=np.float32)
    click[100] = 1.0
    assert np.flatnonzero(time_shift(click, 50)).tolist() == [150]
    assert np.flatnonzero(time_shift(click, -30)).tolist() == [70]
    ones = np.ones(1000, dtype=np.float32)
    later, earlier = time_shift(ones, 50), time_shift(ones, -30)
    assert (later[:50] == 0).all() and (later[50:] == 1).all()  # zero-filled, not wrapped around
    assert (earlier[-30:] == 0).all() and (earlier[:-30] == 1).all()
    assert not time_shift(ones, 1000).any() and len(time_shift(ones, 5)) == 1000


def test_spec_augment_masks_exactly_the_requested_stripes_and_nothing_else(rng):
    original = rng.normal(-3.0, 1.0, size=(200, 64)).astype(np.float32)
    kept = original.copy()
    for _ in range(50):
        masked = spec_augment(original, rng, time_masks=3, max_time=10, freq_masks=2, max_freq=8)
        filled = masked == np.float32(LOG_FLOOR)
        rows, cols = filled.all(axis=1), filled.all(axis=0)
        time_stripes, freq_stripes = runs(rows), runs(cols)
        assert len(time_stripes) == 3 and all(1 <= w <= 10 for _, w in time_stripes)
        assert len(freq_stripes) == 2 and all(1 <= w <= 8 for _, w in freq_stripes)
        np.testing.assert_array_equal(filled, rows[:, None] | cols[None, :])  # whole frames and whole bands only
        np.testing.assert_array_equal(masked[~filled], original[~filled])  # the rest bit-identical
        assert masked.dtype == original.dtype
    np.testing.assert_array_equal(original, kept)  # the input is not touched


def test_spec_augment_masks_each_patch_on_its_own_with_the_given_fill(rng):
    patches = rng.normal(size=(5, 96, 64)).astype(np.float32)
    masked = spec_augment(patches, rng, time_masks=1, max_time=20, freq_masks=1, max_freq=10, fill=0.0)
    rows = [(m == 0.0).all(axis=1) for m in masked]
    for row, m, p in zip(rows, masked, patches):
        assert len(runs(row)) == 1 and len(runs((m == 0.0).all(axis=0))) == 1
        np.testing.assert_array_equal(m[m != 0.0], p[m != 0.0])
    assert len({tuple(np.flatnonzero(r)) for r in rows}) > 1  # not one mask copied onto every patch


def test_masks_that_just_fit_are_placed_and_more_are_refused(rng):
    tight = spec_augment(np.zeros((5, 64)), rng, time_masks=3, max_time=4, freq_masks=0, fill=1.0)
    assert (tight == 1.0).all(axis=1).tolist() == [True, False, True, False, True]
    with pytest.raises(ValueError, match="do not fit"):
        spec_augment(np.zeros((4, 64)), rng, time_masks=3, max_time=2)  # 3 stripes need 5 frames


def test_mixup_blends_inputs_and_labels_with_the_same_convex_weights(rng):
    n = 16
    x = np.eye(n)  # row i is "example i": a mixed row shows its mixing weights
    y = np.eye(4)[rng.integers(0, 4, n)]
    mixed_x, mixed_y = mixup(x, y, 0.4, rng)
    assert (mixed_x >= 0).all() and np.allclose(mixed_x.sum(axis=1), 1.0)
    assert ((mixed_x > 0).sum(axis=1) <= 2).all() and (np.diag(mixed_x) > 0).all()  # itself and one partner
    np.testing.assert_allclose(mixed_y, mixed_x @ y)  # the label blend uses the input blend's weights
    np.testing.assert_allclose(mixed_y.sum(axis=1), 1.0)
    assert not np.allclose(mixed_x, x)


def test_augmentation_off_is_the_identity_and_on_stays_in_its_ranges():
    clean = tone()
    off = Augmentation(gain_probability=0, shift_probability=0, noise_probability=0, spec_probability=0)
    np.testing.assert_array_equal(off.waveform(clean, np.random.default_rng(0)), clean)
    log_mel = np.random.default_rng(1).normal(size=(96, 64))
    np.testing.assert_array_equal(off.log_mel(log_mel, np.random.default_rng(0)), log_mel)
    x, y = np.ones((4, 3)), np.eye(4)
    mixed_x, mixed_y = off.mix(x, y, np.random.default_rng(0))  # mixup_alpha=None: off
    np.testing.assert_array_equal(mixed_x, x)
    np.testing.assert_array_equal(mixed_y, y)

    gain_only = Augmentation(gain_probability=1, shift_probability=0, noise_probability=0, gain_db=(-6, -3))
    noise_only = Augmentation(gain_probability=0, shift_probability=0, noise_probability=1, snr_db=(12, 18))
    for seed in range(10):
        factor = gain_only.waveform(clean, np.random.default_rng(seed))[1000] / clean[1000]
        assert -6.0 - 1e-4 <= 20 * np.log10(factor) <= -3.0 + 1e-4
        assert 12.0 - 0.1 <= snr_db(clean, noise_only.waveform(clean, np.random.default_rng(seed))) <= 18.0 + 0.1


def test_copies_are_reproducible_from_the_seed_alone():
    clean = tone()
    augmentation = Augmentation(gain_probability=1, shift_probability=1, noise_probability=1)
    first = augmented_copies(clean, 3, augmentation, seed=7)
    again = augmented_copies(clean, 3, augmentation, seed=7)
    other = augmented_copies(clean, 3, augmentation, seed=8)
    assert len(first) == 3
    for a, b, c in zip(first, again, other):
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, c)
    assert not np.array_equal(first[0], first[1])  # copies differ from each other
    np.testing.assert_array_equal(augmented_copies(clean, 2, augmentation, seed=7)[1], first[1])  # copy i is (seed, i)
    np.testing.assert_array_equal(clean, tone())  # the input is not touched


def test_settings_round_trip_through_json_provenance():
    augmentation = Augmentation(snr_db=(5, 20), mixup_alpha=0.2, noise_colour="pink")
    recorded = json.loads(json.dumps(augmentation.to_dict()))
    assert recorded["snr_db"] == [5.0, 20.0] and recorded["mixup_alpha"] == 0.2
    assert Augmentation.from_dict(recorded) == augmentation
    with pytest.raises(ValueError, match="unknown"):
        Augmentation.from_dict({**recorded, "reverb": 1})
    with pytest.raises(ValueError, match="probability"):
        Augmentation(noise_probability=1.5)


def test_the_module_does_not_load_tensorflow():
    code = "import sys, seraudit.preprocessing.augment; sys.exit('tensorflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
