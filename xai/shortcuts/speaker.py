"""Speaker identity in what the heads read: a speaker probe, and emotion UAR with each speaker's features normalised.

Two checks per model (features: `xai.shortcuts.features`):

* ``shortcut.speaker_probe.<model>``: a linear probe (`xai.shortcuts.probe`) names the speaker
  of a clip from its features, clip-level stratified cross-validation within the corpus
  (every speaker in training and test). Value: its accuracy; chance is 1 / speakers; control:
  the same probe refitted on permuted speaker labels. Decodable identity warns (a decision
  could key on who speaks; encoded is not used, so it never fails alone: `rules.probe_status`);
* ``shortcut.speaker_norm.<model>``: the same kind of probe trained for emotion on the run's
  own speaker-independent folds (``folds.json``: each fold's test speakers unseen), once on
  the plain features and once with every feature z-scored within each speaker (the speaker's
  mean and spread removed, labels unused). Value: UAR(normalised) - UAR(plain) in points,
  with a 95 % speaker-bootstrap interval; control: the same normalisation within random
  groups of the same sizes (what normalising by anything gives). A gain whose interval lies
  above 0 and above the control means the plain features carry speaker traits the emotion
  decision trips over: fail at `rules.MIN_UAR_GAP` points or more, warn below.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from seraudit.ensemble.evaluation.comparison import bootstrap_uar_difference
from seraudit.xai.audit.checks import check, json_pointer, short_model_name
from seraudit.xai.shortcuts.battery import EVIDENCE
from seraudit.xai.shortcuts.features import RunFeatures, run_features
from seraudit.xai.shortcuts.probe import out_of_fold, permuted, probe_accuracy
from seraudit.xai.shortcuts.rules import (GAP_RULE, MIN_UAR_GAP, PROBE_RULE, SKIPPED, gap_status, probe_status, uar,
                                          wilson)

N_SPLITS = 5


def model_title(run: Any, name: str) -> str:
    """A model's short name in check names (`checks.short_model_name`; the report's banner says which is untrained)."""
    from seraudit.ensemble.model.naming import model_display

    rec = (getattr(run, "results", None) or {}).get("models", {}).get(name) or {}
    return short_model_name(name, str(rec.get("display_name") or model_display(name)))


def _skipped(check_id: str, name: str, model: str, reason: str, pointer: str) -> dict[str, Any]:
    """A check that does not apply here, with its reason (status ``"skipped"``: never part of the worst status)."""
    return check(check_id, name, SKIPPED, None, None, f"not applicable: {reason}", EVIDENCE, pointer, model=model,
                 reason=reason)


def speaker_probe(x: np.ndarray, speakers: Sequence, *, n_splits: int = N_SPLITS, n_permutations: int = 10,
                  seed: int = 0) -> dict[str, Any]:
    """Speaker identity from clip features: stratified k-fold accuracy, chance 1 / speakers, permuted refits."""
    from sklearn.model_selection import StratifiedKFold

    speakers = np.asarray(speakers).astype(str)
    names, counts = np.unique(speakers, return_counts=True)
    rows = np.flatnonzero(np.isin(speakers, names[counts >= 2]))  # a speaker of one clip cannot be both trained and tested
    counts = counts[counts >= 2]
    if len(counts) < 2:
        raise ValueError("a speaker probe needs two speakers with two clips each or more")
    k = int(min(n_splits, counts.min()))
    splits = list(StratifiedKFold(k, shuffle=True, random_state=seed).split(rows, speakers[rows]))
    result = probe_accuracy(np.asarray(x)[rows], speakers[rows], splits, n_permutations=n_permutations, seed=seed)
    return {**result, "chance": 1.0 / len(counts), "n_speakers": int(len(counts)), "n_splits": k,
            "interval": list(wilson(result["correct"], result["n"]))}


def normalise_by_speaker(x: np.ndarray, speakers: Sequence) -> np.ndarray:
    """Every feature z-scored within each speaker's clips (a constant feature of a speaker becomes 0)."""
    x = np.asarray(x, np.float64)
    speakers = np.asarray(speakers).astype(str)
    out = np.empty_like(x)
    for s in np.unique(speakers):
        rows = speakers == s
        mean, std = x[rows].mean(axis=0), x[rows].std(axis=0)
        out[rows] = (x[rows] - mean) / np.where(std > 1e-12, std, 1.0)
    return out


def fold_splits(speakers: Sequence, folds: Sequence[dict]) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) clip indices of each speaker-independent fold: its test speakers against every other speaker."""
    speakers = np.asarray(speakers).astype(str)
    out = []
    for fold in folds:
        test = np.isin(speakers, [str(s) for s in fold.get("test_speakers", [])])
        if test.any() and (~test).any():
            out.append((np.flatnonzero(~test), np.flatnonzero(test)))
    return out


def normalised_uar(x: np.ndarray, y: Sequence[int], speakers: Sequence, folds: Sequence[dict], *, seed: int = 0,
                   n_boot: int = 1000) -> dict[str, Any]:
    """Emotion UAR of the probe on the run's folds, plain and with per-speaker normalisation, and the control."""
    y = np.asarray(y, np.int64)
    speakers = np.asarray(speakers).astype(str)
    splits = fold_splits(speakers, folds)
    if not splits:
        raise ValueError("no fold of the run tests any of these speakers: the speaker-independent folds do not match")
    tested = np.zeros(len(y), bool)
    for _, test in splits:
        tested[test] = True
    plain = out_of_fold(x, y, splits, balanced=True)
    normalised = out_of_fold(normalise_by_speaker(x, speakers), y, splits, balanced=True)
    groups = permuted(speakers, np.random.default_rng(seed))  # random groups of the speakers' sizes
    control = out_of_fold(normalise_by_speaker(x, groups), y, splits, balanced=True)
    t = tested
    diff = bootstrap_uar_difference(y[t], normalised[t], plain[t], groups=speakers[t], n_boot=n_boot, seed=seed)
    u_plain, u_norm, u_ctrl = uar(y[t], plain[t]), uar(y[t], normalised[t]), uar(y[t], control[t])
    return {"uar_plain": u_plain, "uar_normalised": u_norm, "uar_control": u_ctrl, "gap": u_norm - u_plain,
            "control_gap": u_ctrl - u_plain, "interval": [diff["ci_low"], diff["ci_high"]], "n": int(t.sum()),
            "n_folds": len(splits), "resampled": diff["resampled"]}


def speaker_checks(run: Any, models: Sequence[str], *, features: RunFeatures | None = None,
                   models_dir: str | None = None, n_permutations: int = 10, seed: int = 0,
                   progress: bool = False) -> list[dict[str, Any]]:
    """``shortcut.speaker_probe.<model>`` and ``shortcut.speaker_norm.<model>`` for each model (module docstring)."""
    models = list(models)
    features = features if features is not None else run_features(run, models, models_dir=models_dir,
                                                                    progress=progress)
    folds = (run.folds or {}).get("folds", []) if isinstance(run.folds, dict) else list(run.folds or [])
    out = []
    for name in models:
        x, title = features.features[name], model_title(run, name)
        probe_name, norm_name = (f"{title}: who speaks is not readable from what its heads read",
                                 f"{title}: emotion does not hinge on who speaks")
        probe_ptr, norm_ptr = (json_pointer("shortcuts", "speaker", name, part) for part in ("probe", "normalised"))
        try:
            probe = speaker_probe(x, features.speakers, n_permutations=n_permutations, seed=seed)
            norm = normalised_uar(x, features.y, features.speakers, folds, seed=seed)
        except ValueError as error:
            out += [_skipped(f"shortcut.speaker_probe.{name}", probe_name, name, str(error), probe_ptr),
                    _skipped(f"shortcut.speaker_norm.{name}", norm_name, name, str(error), norm_ptr)]
            continue
        status = probe_status(probe["correct"], probe["n"], probe["permuted"])
        low, high = probe["interval"]
        figure = (f"speaker named from the features the heads read in {probe['accuracy']:.0%} of {probe['n']} clips "
                  f"(95 % CI {low:.0%}-{high:.0%}; {probe['n_speakers']} speakers, chance {probe['chance']:.0%}; "
                  f"permuted-label refits {probe['permuted_mean']:.0%}, 95th percentile {probe['permuted_q95']:.0%}); "
                  f"{PROBE_RULE}")
        out.append(check(f"shortcut.speaker_probe.{name}", probe_name, status, probe["accuracy"], probe["permuted_q95"],
                         figure, EVIDENCE, probe_ptr, control=probe["permuted_mean"],
                         model=name, kind="speaker", chance=probe["chance"], interval=probe["interval"],
                         n_clips=probe["n"], n_speakers=probe["n_speakers"], permuted=probe["permuted"],
                         taps=features.taps.get(name), rule=PROBE_RULE))
        low, high = norm["interval"]
        beyond = low > max(0.0, norm["control_gap"])
        model_uar = ((run.results.get("models", {}).get(name) or {}).get("uar") or {}).get("pooled")
        figure = (f"emotion UAR {norm['uar_normalised']:.1f} with each speaker's features normalised vs "
                  f"{norm['uar_plain']:.1f} plain ({norm['gap']:+.1f} points, 95 % speaker-bootstrap CI "
                  f"[{low:+.1f}, {high:+.1f}]) on the run's {norm['n_folds']} speaker-independent folds; control "
                  f"(random groups) {norm['control_gap']:+.1f}"
                  + ("" if model_uar is None else f"; the model's own out-of-fold UAR {model_uar:.1f}") + f"; {GAP_RULE}")
        out.append(check(f"shortcut.speaker_norm.{name}", norm_name, gap_status(norm["gap"], beyond), norm["gap"],
                         MIN_UAR_GAP, figure, EVIDENCE, norm_ptr, control=norm["control_gap"],
                         model=name, kind="speaker", interval=norm["interval"], uar_plain=norm["uar_plain"],
                         uar_normalised=norm["uar_normalised"], uar_control=norm["uar_control"],
                         model_uar=model_uar, n_clips=norm["n"], rule=GAP_RULE))
    return out
