"""Fine-tuning trains the backbone more gently than the heads, leaves the layers below alone, replays its augmented
batches from the recorded seed, and keeps the epoch that was best on the validation speakers."""

import numpy as np
import pytest

from seraudit.ensemble.training.fine_tune_batches import EpochBatches, TrainingPatches
from seraudit.ensemble.training.fine_tuning import (
    FineTuneConfig, ValidationPatches, backbone_and_head_variables, fine_tune, logits_model, unfreeze_below_taps,
)
from seraudit.preprocessing.augment import Augmentation

N_CLASSES = 3
TAP = "layer3"  # a short tower: layer1's convolution and layer2 stay frozen below the two unfrozen layer3 convolutions


def tiny_graph():
    """YAMNet up to `TAP` with a linear head, randomly initialised (the training mechanics do not need AudioSet)."""
    import keras

    from seraudit.ensemble.model.graph import build_model

    keras.utils.set_random_seed(0)
    return build_model({"name": "yamnet", "fusion": None, "head": {}, "taps": {"yamnet": [TAP]}}, N_CLASSES)


def separable_patches(rng, n: int, labels=None):
    """Log-mel-like patches whose class shows as a brighter band (so training has something to learn)."""
    y = rng.integers(0, N_CLASSES, n) if labels is None else labels
    x = rng.normal(-4.0, 1.0, (n, 96, 64)).astype(np.float32)
    for c in range(N_CLASSES):
        x[y == c, :, 20 * c : 20 * c + 10] += 3.0
    return x, y


def clean_batches(x, y, seed=0, batch_size=16):
    source = TrainingPatches(x, y, np.arange(len(y)), np.zeros(len(y), np.int64))
    return EpochBatches(source, N_CLASSES, batch_size, seed)


def weights_by_layer(model, names):
    return {name: [np.array(w) for w in model.get_layer(name).get_weights()] for name in names}


def largest_change(before, model):
    return max(float(np.abs(a - b).max()) for name, ws in before.items() for a, b in zip(ws, model.get_layer(name).get_weights()))


def train(ratio, rng_seed=0, epochs=1, validation=None, patience=3):
    built = tiny_graph()
    unfrozen = unfreeze_below_taps(built, {"yamnet": 2})["yamnet"]
    model = logits_model(built.keras_model)
    tower = [n for n in built.towers["yamnet"].layer_names if built.keras_model.get_layer(n).weights]
    before = weights_by_layer(built.keras_model, tower + ["logits"])
    x, y = separable_patches(np.random.default_rng(rng_seed), 64)
    config = FineTuneConfig(head_lr=1e-3, backbone_lr_ratio=ratio, epochs=epochs, patience=patience, augment="off")
    summary = fine_tune(model, unfrozen, clean_batches(x, y), validation, np.ones(N_CLASSES), config, seed=0)
    return built, unfrozen, tower, before, summary


def test_only_the_layers_just_below_the_tap_are_unfrozen():
    built = tiny_graph()
    unfrozen = unfreeze_below_taps(built, {"yamnet": 2})["yamnet"]
    assert unfrozen == ["yamnet_layer3_depthwise_conv", "yamnet_layer3_pointwise_conv"]
    backbone, head = backbone_and_head_variables(built.keras_model, unfrozen)
    assert {v.path.split("/")[0] for v in backbone} == set(unfrozen)
    assert {v.path.split("/")[0] for v in head} == {"logits"}  # the head's standardisation is frozen too


def test_with_backbone_ratio_zero_the_backbone_stays_bit_identical_while_the_head_learns():
    built, unfrozen, tower, before, _ = train(ratio=0.0)
    model = built.keras_model
    assert largest_change({n: before[n] for n in tower}, model) == 0.0
    assert largest_change({"logits": before["logits"]}, model) > 1e-4


def test_the_backbone_moves_about_ratio_times_less_than_at_the_heads_rate_and_the_layers_below_not_at_all():
    slow, unfrozen, tower, before_slow, _ = train(ratio=0.1)
    fast, _, _, before_fast, _ = train(ratio=1.0)
    moved_slow = largest_change({n: before_slow[n] for n in unfrozen}, slow.keras_model)
    moved_fast = largest_change({n: before_fast[n] for n in unfrozen}, fast.keras_model)
    assert 0.0 < moved_slow < 0.3 * moved_fast
    below = [n for n in tower if n not in unfrozen]
    assert below == ["yamnet_layer1_conv", "yamnet_layer2_depthwise_conv", "yamnet_layer2_pointwise_conv"]
    assert largest_change({n: before_slow[n] for n in below}, slow.keras_model) == 0.0


def test_early_stopping_restores_the_best_epoch_weights():
    rng = np.random.default_rng(1)
    x_val, y_val = separable_patches(rng, 30)
    misleading = ValidationPatches(x_val, np.arange(30), (y_val + 1) % N_CLASSES)  # labels that training makes worse
    built, unfrozen, tower, before, summary = train(ratio=1.0, epochs=6, validation=misleading, patience=2)
    best = summary["best_epoch"]
    assert summary["epochs_run"] == best + 2 < 6
    kept = [h for h in summary["history"] if h["epoch"] == best][0]
    assert misleading.score(logits_model(built.keras_model)) == pytest.approx((kept["val_uar"], kept["val_loss"]))
    replay, *_ = train(ratio=1.0, epochs=best)  # the same run stopped at the best epoch, without validation
    for layer in tower + ["logits"]:
        for a, b in zip(replay.keras_model.get_layer(layer).get_weights(), built.keras_model.get_layer(layer).get_weights()):
            np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)


def waveform_source(rng, n_clips=3, seconds=2.0):
    """Training patches cut from synthetic clips as the corpus cuts them, with the clips' waveforms."""
    from seraudit.preprocessing.frontend import log_mel
    from seraudit.preprocessing.segments import make_patches

    waves = [(0.1 * np.sin(np.arange(int(16000 * seconds)) * (0.02 + 0.01 * i)) + 0.01 * rng.standard_normal(
        int(16000 * seconds))).astype(np.float32) for i in range(n_clips)]
    cuts = [make_patches(log_mel(w)).data for w in waves]
    keep = [(c, p) for c in range(n_clips) for p in range(len(cuts[c])) if (c + p) % 2 == 0]  # as GDS drops some
    patches = np.stack([cuts[c][p] for c, p in keep]).astype(np.float32)
    clip_of, position = (np.array(a, np.int64) for a in zip(*keep))
    return TrainingPatches(patches, clip_of % N_CLASSES, clip_of, position, waves)


def test_waveform_augmentation_that_changes_nothing_gives_back_each_patch_from_its_own_clip_and_place(rng):
    source = waveform_source(rng)
    identity = Augmentation(gain_probability=0, shift_probability=0, noise_probability=0, spec_probability=0)
    batches = EpochBatches(source, N_CLASSES, batch_size=100, seed=0, augmentation=identity)
    (x, y), = list(batches.epoch(0))  # one batch: every patch once, in a shuffled order
    matched = [np.flatnonzero([np.array_equal(row, p) for p in source.patches]) for row in x]
    assert all(len(m) == 1 for m in matched) and sorted(int(m[0]) for m in matched) == list(range(len(source.labels)))
    assert np.array_equal(y.argmax(axis=1), source.labels[[int(m[0]) for m in matched]])


def test_augmented_batches_replay_from_the_seed_and_change_with_seed_and_epoch(rng):
    source = waveform_source(rng)

    def batches(seed, epoch):
        return [b for batch in EpochBatches(source, N_CLASSES, 4, seed, Augmentation()).epoch(epoch) for b in batch]

    first = batches(7, 0)
    assert all(np.array_equal(a, b) for a, b in zip(first, batches(7, 0)))
    for other in (batches(8, 0), batches(7, 1)):
        assert not all(a.shape == b.shape and np.array_equal(a, b) for a, b in zip(first, other))
    assert not np.array_equal(np.concatenate(first[::2]).sum(axis=0), source.patches.sum(axis=0))  # augmented


def test_mixup_targets_blend_two_one_hot_rows_and_sum_to_one(rng):
    source = waveform_source(rng, n_clips=6)
    for x, y in EpochBatches(source, N_CLASSES, 5, 3, Augmentation(mixup_alpha=0.4)).epoch(0):
        assert np.all(y >= 0) and np.allclose(y.sum(axis=1), 1.0)
        assert np.all((y > 0).sum(axis=1) <= 2)
        assert x.dtype == np.float32 and x.shape[1:] == (96, 64)
    blended = np.concatenate([y for _, y in EpochBatches(source, N_CLASSES, 5, 3, Augmentation(mixup_alpha=0.4)).epoch(0)])
    assert np.any((blended > 0) & (blended < 1))


def test_the_cross_validation_benchmark_reads_fine_tuning_variants():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[3] / "benchmarks" / "cross_validation.py"
    spec = importlib.util.spec_from_file_location("cross_validation_benchmark", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.variant_settings("finetune=1 lr_ratio=0.05 epochs=4 mixup=0.2 augment=mild") == {
        "fine_tune": True, "fine_tune_backbone_lr_ratio": 0.05, "fine_tune_epochs": 4, "mixup_alpha": 0.2,
        "fine_tune_augment": "mild"}
    assert bench.variant_settings("augment=2") == {"augment_copies": 2}
    with pytest.raises(SystemExit):
        bench.variant_settings("mixup=0.2")


def test_the_mild_recipe_drops_only_the_noise_and_off_still_mixes_when_asked():
    from seraudit.ensemble.training.fine_tune_batches import changes_waveforms, fine_tune_augmentation

    full, mild = fine_tune_augmentation("full"), fine_tune_augmentation("mild")
    assert mild.noise_probability == 0 < full.noise_probability and mild.spec_probability == full.spec_probability > 0
    assert fine_tune_augmentation("off") is None
    mixing = fine_tune_augmentation("off", mixup_alpha=0.2)
    assert mixing.mixup_alpha == 0.2 and not changes_waveforms(mixing) and changes_waveforms(mild)
    with pytest.raises(ValueError):
        fine_tune_augmentation("strong")


def test_vggish_cut_at_a_conv_tap_can_be_unfrozen():
    """A VGGish tower cut at conv3/conv4 lists pooling layers the graph does not hold; unfreezing must skip them."""
    from seraudit.ensemble.training.fine_tuning import unfreeze_below_taps
    from seraudit.ensemble.model.graph import build_model

    for tap in ("conv3", "conv4"):
        built = build_model({"name": "vggish", "fusion": None, "head": {}, "taps": {"vggish": [tap]}}, 3)
        unfrozen = unfreeze_below_taps(built, {"vggish": 2})["vggish"]
        assert len(unfrozen) == 2 and all(built.keras_model.get_layer(n).trainable for n in unfrozen)
