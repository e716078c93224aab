"""The main job's clip picking: a balanced, deterministic sample of test clips, the reference model's mistakes included."""

from __future__ import annotations

import numpy as np
import pandas as pd

from seraudit.xai.audit.runner import AuditSettings
from seraudit.xai.audit.plan import clip_specs, fast_settings, pick_clips

EMOTIONS = ["angry", "happy", "neutral", "sad"]  # alphabetical: the order pick_clips alternates in


def predictions(rng: np.random.Generator, wrong_per_emotion: int = 2) -> pd.DataFrame:
    """Cross-validation test predictions shaped like a run's predictions.csv (6 clips per emotion)."""
    rows = []
    for e, label in enumerate(EMOTIONS):
        for i in range(6):
            probs = rng.dirichlet(np.ones(len(EMOTIONS)))
            predicted = EMOTIONS[(e + 1) % 4] if i < wrong_per_emotion else label
            probs[EMOTIONS.index(predicted)] += 1.0 + i / 10
            probs /= probs.sum()
            for model in ("ensemble", "yamnet"):
                # yamnet is right where the ensemble is wrong: only the reference model's mistakes count
                rows.append({"model": model, "fold": 0, "path": f"/c/{label}_{i}.wav", "speaker": f"s{i % 3}",
                             "label": label, "prediction": predicted if model == "ensemble" else label,
                             **{f"p_{x}": p for x, p in zip(EMOTIONS, probs)}})
    return pd.DataFrame(rows)


def confidence(rows: pd.DataFrame) -> pd.Series:
    return rows[[f"p_{x}" for x in EMOTIONS]].max(axis=1)


def test_two_per_emotion_pick_one_mistake_and_one_correct_clip_each(rng):
    chosen = pick_clips(predictions(rng), per_emotion=2)
    assert chosen.groupby("label").size().to_dict() == {e: 2 for e in EMOTIONS}
    assert (chosen["label"] != chosen["prediction"]).groupby(chosen["label"]).sum().to_dict() == {e: 1 for e in EMOTIONS}


def test_the_most_confident_mistake_and_the_least_confident_correct_clip_are_picked(rng):
    table = predictions(rng)
    chosen = set(pick_clips(table, per_emotion=2)["path"])
    ensemble = table[table["model"] == "ensemble"]
    for label in EMOTIONS:
        own = ensemble[ensemble["label"] == label]
        wrong, right = own[own["label"] != own["prediction"]], own[own["label"] == own["prediction"]]
        assert wrong.loc[confidence(wrong).idxmax(), "path"] in chosen
        assert right.loc[confidence(right).idxmin(), "path"] in chosen


def test_one_per_emotion_alternates_a_mistake_and_a_correct_clip_in_alphabetical_order(rng):
    chosen = pick_clips(predictions(rng), per_emotion=1)
    assert list(chosen["label"]) == EMOTIONS
    assert list(chosen["label"] != chosen["prediction"]) == [True, False, True, False]


def test_the_pick_is_deterministic_whatever_the_row_order(rng):
    table = predictions(rng)
    first = pick_clips(table, per_emotion=3)
    again = pick_clips(table.sample(frac=1.0, random_state=7), per_emotion=3)
    pd.testing.assert_frame_equal(first.drop(columns="fold"), again.drop(columns="fold"), check_like=True)
    assert list(first["path"]) == sorted(first["path"])  # sorted by label, then path


def test_when_the_reference_model_makes_no_mistake_correct_clips_fill_the_sample(rng):
    chosen = pick_clips(predictions(rng, wrong_per_emotion=0), per_emotion=2)
    assert chosen.groupby("label").size().to_dict() == {e: 2 for e in EMOTIONS}
    assert (chosen["label"] == chosen["prediction"]).all()


def test_picked_rows_become_clip_specs_with_label_and_speaker(rng):
    chosen = pick_clips(predictions(rng), per_emotion=1)
    specs = clip_specs(chosen)
    assert [(s.path, s.true_label, s.speaker) for s in specs] == list(zip(chosen["path"], chosen["label"], chosen["speaker"]))


def test_the_main_job_audits_with_cheaper_settings_than_explain():
    fast, default = fast_settings(("gradcam",), probe=True, sanity_clips=1), AuditSettings()
    assert fast.methods == ("gradcam",) and fast.probe and fast.sanity_clips == 1
    assert fast.faithfulness_steps < default.faithfulness_steps
    assert fast.faithfulness_random == default.faithfulness_random >= 5  # the calibrated checks need 5 random orders
    assert fast.explainer_params["lime"]["num_samples"] < 1000  # LIME's own default
    assert 1 <= fast.sanity_blocks < default.sanity_blocks  # still a cascade: head, then head + top block
