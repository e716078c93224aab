"""A run's predictions are scored per model like scikit-learn scores them, and the ensemble is compared with each single model."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, f1_score, recall_score, top_k_accuracy_score

from seraudit.ensemble.evaluation.scoring import comparison_table, evaluate_predictions, load_results, model_metrics

LABELS = ["neutral", "happy", "sad", "angry"]
MODEL_INFO = {
    "ensemble": {"fusion": "late", "untrained": ["vggish"]},
    "yamnet": {"fusion": None, "untrained": []},
    "vggish": {"fusion": None, "untrained": ["vggish"]},
}


@pytest.fixture()
def predictions(rng) -> pd.DataFrame:
    """96 clips of 8 speakers in 2 folds; the ensemble is right on 90 %, YAMNet on 60 %, VGGish on 25 % (chance).

    Each row has its class probabilities ``p_<label>``, highest for the predicted class.
    """
    n = 96
    truth = np.tile(np.arange(4), n // 4)
    speaker = np.repeat(np.arange(8), n // 8)
    skill = {"ensemble": 0.9, "yamnet": 0.6, "vggish": 0.25}
    prob_rng = np.random.default_rng(99)
    rows = []
    for model, p in skill.items():
        wrong = (truth + rng.integers(1, 4, n)) % 4
        pred = np.where(rng.random(n) < p, truth, wrong)
        order = rng.permutation(n) if model != "ensemble" else np.arange(n)  # rows of other models come shuffled
        for i in order:
            probs = prob_rng.dirichlet(np.ones(4))
            top = probs.argmax()
            probs[[top, pred[i]]] = probs[[pred[i], top]]  # the prediction is the most probable class
            rows.append({
                "model": model, "path": f"clip_{i:03d}.wav", "label": LABELS[truth[i]], "prediction": LABELS[pred[i]],
                "fold": int(speaker[i] >= 4), "speaker": f"spk{speaker[i]}",
                **{f"p_{lab}": float(q) for lab, q in zip(LABELS, probs)},
            })  # fmt: skip
    return pd.DataFrame(rows)


def _as_index(frame: pd.DataFrame, column: str) -> np.ndarray:
    return frame[column].map({lab: i for i, lab in enumerate(LABELS)}).to_numpy()


def test_model_metrics_match_scikit_learn_per_fold_and_pooled(predictions):
    frame = predictions[predictions.model == "yamnet"]
    m = model_metrics(frame, LABELS)
    y, p = _as_index(frame, "label"), _as_index(frame, "prediction")
    uar = [100 * recall_score(y[frame.fold == f], p[frame.fold == f], average="macro") for f in (0, 1)]
    assert m["uar"]["folds"] == pytest.approx(uar)
    assert m["uar"]["mean"] == pytest.approx(np.mean(uar)) and m["uar"]["std"] == pytest.approx(np.std(uar))
    assert m["uar"]["pooled"] == pytest.approx(100 * recall_score(y, p, average="macro"))
    assert m["accuracy"]["pooled"] == pytest.approx(100 * accuracy_score(y, p))
    assert m["macro_f1"]["pooled"] == pytest.approx(100 * f1_score(y, p, average="macro"))
    assert m["n_clips"] == 96 and np.array(m["confusion_matrix"]).sum() == 96
    assert m["per_class_recall"]["neutral"] == pytest.approx(100 * (p[y == 0] == 0).mean())


def test_top_k_accuracy_comes_from_the_probability_columns_per_fold_and_pooled(predictions):
    results = evaluate_predictions(predictions, LABELS, MODEL_INFO, n_boot=50, seed=0)
    for model, frame in predictions.groupby("model"):
        m = results["models"][model]
        y, scores = _as_index(frame, "label"), frame[[f"p_{lab}" for lab in LABELS]].to_numpy()
        for k in (2, 3):
            folds = [100 * top_k_accuracy_score(y[frame.fold == f], scores[(frame.fold == f).to_numpy()], k=k, labels=range(4))
                     for f in (0, 1)]
            assert m[f"top{k}_accuracy"]["folds"] == pytest.approx(folds)
            assert m[f"top{k}_accuracy"]["mean"] == pytest.approx(np.mean(folds))
            assert m[f"top{k}_accuracy"]["pooled"] == pytest.approx(100 * top_k_accuracy_score(y, scores, k=k, labels=range(4)))
        assert m["accuracy"]["pooled"] <= m["top2_accuracy"]["pooled"] <= m["top3_accuracy"]["pooled"] < 100
    labels_only = model_metrics(predictions.drop(columns=[f"p_{lab}" for lab in LABELS]), LABELS)
    assert "top2_accuracy" not in labels_only and "top3_accuracy" not in labels_only and "uar" in labels_only


def test_a_hand_counted_table_gives_the_hand_counted_metrics():
    frame = pd.DataFrame({
        "label": ["neutral", "neutral", "happy", "happy", "neutral", "happy"],
        "prediction": ["neutral", "happy", "happy", "happy", "neutral", "neutral"],
        "fold": [0, 0, 0, 0, 1, 1],
    })  # fmt: skip
    m = model_metrics(frame, ["neutral", "happy"])
    # fold 0: recalls 1/2, 2/2 -> 75 %; fold 1: recalls 1/1, 0/1 -> 50 %; pooled: 2/3, 2/3 -> 66.7 %
    assert m["uar"]["folds"] == pytest.approx([75.0, 50.0])
    assert m["uar"]["mean"] == pytest.approx(62.5) and m["uar"]["std"] == pytest.approx(12.5)
    assert m["uar"]["pooled"] == pytest.approx(200 / 3)
    assert m["accuracy"]["folds"] == pytest.approx([75.0, 50.0])
    assert m["confusion_matrix"] == [[2, 1], [1, 2]]


def test_every_model_is_scored_and_every_pair_of_models_is_compared(predictions):
    results = evaluate_predictions(predictions, LABELS, MODEL_INFO, n_boot=200, seed=0)
    assert list(results["models"]) == ["ensemble", "yamnet", "vggish"]
    assert results["labels"] == LABELS
    assert results["models"]["ensemble"]["display_name"] == "Ensemble (late fusion; VGGish untrained)"
    assert results["models"]["vggish"]["display_name"] == "VGGish (untrained)"
    assert results["models"]["yamnet"]["display_name"] == "YAMNet"
    assert results["models"]["vggish"]["untrained"] == ["vggish"]

    pairs = [(c["a"], c["b"]) for c in results["comparisons"]]
    # every pair once, the ensemble's first; no eGeMAPS predictions, so no eGeMAPS row
    assert pairs == [("ensemble", "yamnet"), ("ensemble", "vggish"), ("yamnet", "vggish")]
    rows = {c["b"]: c for c in results["comparisons"] if c["a"] == "ensemble"}
    for other, row in rows.items():
        assert row["a"] == "ensemble" and row["n_clips"] == 96
        expected = results["models"]["ensemble"]["uar"]["pooled"] - results["models"][other]["uar"]["pooled"]
        assert row["uar_difference"] == pytest.approx(expected)  # clips matched by path despite the shuffled rows
        assert row["ci_low"] < row["uar_difference"] < row["ci_high"]
        assert row["bootstrap"]["resampled"] == "speakers"
    assert rows["vggish"]["ci_low"] > 0 and rows["vggish"]["p_value"] < 1e-6  # 90 % vs chance is a clear win

    ens = predictions[predictions.model == "ensemble"].set_index("path")
    yam = predictions[predictions.model == "yamnet"].set_index("path").loc[ens.index]
    ens_right, yam_right = ens.prediction == ens.label, yam.prediction == yam.label
    assert rows["yamnet"]["mcnemar"]["only_a"] == int((ens_right & ~yam_right).sum())
    assert rows["yamnet"]["mcnemar"]["only_b"] == int((~ens_right & yam_right).sum())


def test_without_an_ensemble_the_single_models_are_still_compared(predictions):
    results = evaluate_predictions(predictions[predictions.model != "ensemble"], LABELS, MODEL_INFO, n_boot=50)
    assert list(results["models"]) == ["yamnet", "vggish"]
    assert [(c["a"], c["b"]) for c in results["comparisons"]] == [("yamnet", "vggish")]
    one = evaluate_predictions(predictions[predictions.model == "yamnet"], LABELS, MODEL_INFO, n_boot=50)
    assert one["comparisons"] == []


def test_comparison_table_reads_as_a_verdict(predictions):
    results = evaluate_predictions(predictions, LABELS, MODEL_INFO, n_boot=200, seed=0)
    table = comparison_table(results, "RAVDESS: speaker-independent cross-validation")
    lines = table.splitlines()
    assert lines[0] == "RAVDESS: speaker-independent cross-validation"
    ensemble_uar = results["models"]["ensemble"]["uar"]
    row = next(line for line in lines if line.startswith("Ensemble (late fusion; VGGish untrained)"))
    assert f"{ensemble_uar['mean']:5.1f} ± {ensemble_uar['std']:4.1f}" in row
    ece = results["models"]["ensemble"]["calibration"]["ece"]
    assert row.split()[-2:] == [f"{ensemble_uar['pooled']:.1f}", f"{ece:.3f}"]
    verdict = next(line for line in lines if "Ensemble (late fusion; VGGish untrained) vs VGGish (untrained)" in line)
    assert verdict.endswith("-> better")
    assert any(line.startswith("  YAMNet vs VGGish (untrained): ") for line in lines)  # not only ensemble pairs


def test_a_saved_run_is_rescored_from_its_predictions_keeping_its_recorded_facts_and_folds(tmp_path, predictions):
    from seraudit.ensemble.run import Run, write_run

    stored = {"models": {"yamnet": {"uar": {"mean": 99.9}}}, "corpus_display": "RAVDESS (2.4 s)", "n_speakers": 8,
              "gds": {"enabled": True, "threshold": 0.4}, "not_a_fact": 1}
    info = {"labels": LABELS, "models": MODEL_INFO, "settings": {"n_boot": 40, "seed": 5}}
    folds = {"corpus": "ravdess", "folds": [{"index": 0}, {"index": 1}]}
    run = Run.open(write_run(tmp_path / "run", info, folds, predictions, stored, {}, LABELS, None))
    results = load_results(run)
    expected = evaluate_predictions(predictions, LABELS, MODEL_INFO, n_boot=40, seed=5)
    assert results["models"]["yamnet"]["uar"]["mean"] == pytest.approx(expected["models"]["yamnet"]["uar"]["mean"])  # not 99.9
    assert [c["ci_low"] for c in results["comparisons"]] == pytest.approx([c["ci_low"] for c in expected["comparisons"]])
    assert {c["bootstrap"]["n_boot"] for c in results["comparisons"]} == {40}  # the run's own bootstrap size
    assert results["corpus_display"] == "RAVDESS (2.4 s)" and results["n_speakers"] == 8 and results["gds"]["threshold"] == 0.4
    assert "not_a_fact" not in results and results["folds"] == folds
    assert {c["bootstrap"]["n_boot"] for c in load_results(run, n_boot=25)["comparisons"]} == {25}


def test_auxiliary_fields_predicted_by_a_model_get_their_own_uar_and_accuracy():
    import pandas as pd

    from seraudit.ensemble.evaluation.scoring import comparison_table, evaluate_predictions

    rows = []
    for fold in (0, 1):
        for i in range(8):
            gender = "male" if i % 2 else "female"
            rows.append({"model": "yamnet", "fold": fold, "path": f"{fold}_{i}.wav", "speaker": f"s{fold}",
                         "label": "happy" if i < 4 else "sad", "prediction": "happy" if i < 4 else "sad",
                         "p_happy": 0.9 if i < 4 else 0.1, "p_sad": 0.1 if i < 4 else 0.9, "gender": gender,
                         "gender_prediction": gender if i != 0 else "male"})  # one error, fold by fold
    results = evaluate_predictions(pd.DataFrame(rows), ["happy", "sad"], {"yamnet": {}}, n_boot=10)
    gender = results["models"]["yamnet"]["aux"]["gender"]
    assert gender["accuracy"]["mean"] == pytest.approx(100 * 7 / 8)
    assert gender["uar"]["mean"] == pytest.approx(100 * (3 / 4 + 1) / 2) and gender["classes"] == ["female", "male"]
    assert "gender 87.5 ± 0.0" in comparison_table(results)
