"""Lexical content where the corpus encodes it: can the features tell the sentence, and does emotion UAR differ by it?

Acted corpora reuse a few sentences for every emotion, and their file names say which
(`preprocessing.corpora` reads it into the clip table's ``text``: RAVDESS's statement, field 5
of ``03-01-EE-II-SS-RR-AA``, "01" "Kids are talking by the door" / "02" "Dogs are sitting by
the door"; EmoDB's text id, ``a01`` in ``03a01Fa``). Two checks per model:

* ``shortcut.lexical_probe.<model>``: a linear probe (`xai.shortcuts.probe`) names the sentence
  from the features the heads read, cross-validated by speaker (the speakers tested are never
  trained on, so it must read the words, not who says them). Value: its accuracy; chance: the
  largest sentence's share; control: refits on sentences permuted within each speaker.
  Decodable warns (`rules.probe_status`);
* ``shortcut.lexical_uar.<model>``: the model's own out-of-fold predictions (``predictions.csv``)
  split by sentence: the spread of UAR between the best and the worst sentence, in points,
  each sentence's UAR with a 95 % speaker-bootstrap interval; control: the spread when the
  sentences are permuted within each speaker (what chance alone spreads). Fails beyond the
  control's 95th percentile at `rules.MIN_UAR_GAP` points or more, warns beyond it below.

A corpus without sentence codes (or with codes too sparse to compare: fewer than
`MIN_CLIPS_PER_CODE` clips or two speakers per code, fewer than two such codes) gets both
checks with status ``"skipped"`` and the reason: not applicable, never an error, and
`xai.audit.checks.overall_status` leaves it out of the worst status.
"""

from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np
import pandas as pd

from seraudit.core.errors import SerauditError
from seraudit.xai.audit.checks import check, json_pointer
from seraudit.xai.shortcuts.battery import EVIDENCE
from seraudit.xai.shortcuts.features import RunFeatures, corpus_table, run_features
from seraudit.xai.shortcuts.probe import permuted, probe_accuracy
from seraudit.xai.shortcuts.rules import (GAP_RULE, LEVEL, MIN_UAR_GAP, PROBE_RULE, SKIPPED, gap_status, probe_status,
                                          uar, wilson)
from seraudit.xai.shortcuts.speaker import model_title

MIN_CLIPS_PER_CODE = 10
N_SPLITS = 5


def lexical_codes(table: pd.DataFrame | None) -> tuple[np.ndarray | None, str | None]:
    """Each clip's sentence code where it can be compared (None for the others), or (None, why not applicable)."""
    if table is None or "text" not in table or table["text"].isna().all():
        return None, "the corpus's clips carry no sentence or word code (no text field in its file names or manifest)"
    text = table["text"].where(table["text"].notna(), None).astype(object)
    speakers = table["speaker"].astype(str)
    usable = [code for code, rows in table.assign(_t=text).groupby("_t")
              if len(rows) >= MIN_CLIPS_PER_CODE and speakers[rows.index].nunique() >= 2]
    if len(usable) < 2:
        return None, (f"fewer than two sentence codes with {MIN_CLIPS_PER_CODE}+ clips by 2+ speakers each "
                      f"({text.nunique()} code(s) in all): nothing to compare")
    return np.array([t if t in usable else None for t in text], dtype=object), None


def lexical_probe(x: np.ndarray, codes: Sequence, speakers: Sequence, *, n_splits: int = N_SPLITS,
                  n_permutations: int = 10, seed: int = 0) -> dict[str, Any]:
    """The sentence from clip features, speaker-grouped cross-validation, refits on codes permuted within speakers."""
    from sklearn.model_selection import GroupKFold

    codes, speakers = np.asarray(codes, dtype=object), np.asarray(speakers).astype(str)
    rows = np.flatnonzero(pd.notna(codes))
    k = int(min(n_splits, len(np.unique(speakers[rows]))))
    splits = list(GroupKFold(k).split(rows, groups=speakers[rows]))
    result = probe_accuracy(np.asarray(x)[rows], codes[rows].astype(str), splits, n_permutations=n_permutations,
                            seed=seed, permute_within=speakers[rows])
    return {**result, "n_codes": int(len(np.unique(codes[rows].astype(str)))), "n_splits": k,
            "interval": list(wilson(result["correct"], result["n"]))}


def _code_uar(labels: np.ndarray, preds: np.ndarray, speakers: np.ndarray, rng: np.random.Generator,
              n_boot: int) -> tuple[float, list[float]]:
    """UAR of one sentence's clips and its speaker-bootstrap interval."""
    value = uar(labels, preds)
    groups = np.unique(speakers)
    index = {g: np.flatnonzero(speakers == g) for g in groups}
    draws = []
    for _ in range(n_boot):
        rows = np.concatenate([index[g] for g in rng.choice(groups, len(groups))])
        draws.append(uar(labels[rows], preds[rows]))
    low, high = np.nanquantile(draws, [(1 - LEVEL) / 2, 1 - (1 - LEVEL) / 2])
    return value, [float(low), float(high)]


def _spread(labels: np.ndarray, preds: np.ndarray, codes: np.ndarray) -> float:
    values = [uar(labels[codes == c], preds[codes == c]) for c in np.unique(codes)]
    return float(np.nanmax(values) - np.nanmin(values))


def statement_uar(labels: Sequence, predictions: Sequence, codes: Sequence, speakers: Sequence, *,
                  n_permutations: int = 200, n_boot: int = 500, seed: int = 0) -> dict[str, Any]:
    """Emotion UAR per sentence code, the spread between the best and worst, and the permutation null of that spread."""
    labels, preds = np.asarray(labels).astype(str), np.asarray(predictions).astype(str)
    codes, speakers = np.asarray(codes, dtype=object), np.asarray(speakers).astype(str)
    rows = np.flatnonzero(pd.notna(codes))
    labels, preds, codes, speakers = labels[rows], preds[rows], codes[rows].astype(str), speakers[rows]
    rng = np.random.default_rng(seed)
    per_code = {}
    for c in np.unique(codes):
        m = codes == c
        value, interval = _code_uar(labels[m], preds[m], speakers[m], rng, n_boot)
        per_code[str(c)] = {"uar": value, "n": int(m.sum()), "interval": interval}
    spread = _spread(labels, preds, codes)
    null = [_spread(labels, preds, permuted(codes, rng, speakers)) for _ in range(n_permutations)]
    return {"spread": spread, "per_code": per_code, "null_mean": float(np.mean(null)),
            "null_q95": float(np.quantile(null, LEVEL)), "n": int(len(rows))}


def _skipped(check_id: str, name: str, model: str, reason: str, pointer: str) -> dict[str, Any]:
    return check(check_id, name, SKIPPED, None, None, f"not applicable: {reason}", EVIDENCE, pointer, model=model,
                 kind="lexical", reason=reason)


def lexical_checks(run: Any, models: Sequence[str], *, features: RunFeatures | None = None,
                   table: pd.DataFrame | None = None, models_dir: str | None = None, n_permutations: int = 10,
                   seed: int = 0, progress: bool = False) -> list[dict[str, Any]]:
    """``shortcut.lexical_probe.<model>`` and ``shortcut.lexical_uar.<model>`` for each model (module docstring).

    `table` is the run's clip table (`features.table`, else read from the run's corpus); a corpus
    without usable sentence codes gives both checks as skipped, with the reason.
    """
    models = list(models)
    reason = None
    if table is None and features is not None:
        table = features.table
    if table is None:
        try:
            table = corpus_table(run)
        except SerauditError as error:
            reason = f"the run's corpus could not be read ({error})"
    codes, why = lexical_codes(table) if reason is None else (None, reason)
    out = []
    for name in models:
        title = model_title(run, name)
        probe_name = f"{title}: the sentence is not readable from what its heads read"
        uar_name = f"{title}: emotion UAR does not depend on the sentence"
        probe_ptr, uar_ptr = (json_pointer("shortcuts", "lexical", name, part) for part in ("probe", "uar"))
        if codes is None:
            out += [_skipped(f"shortcut.lexical_probe.{name}", probe_name, name, why, probe_ptr),
                    _skipped(f"shortcut.lexical_uar.{name}", uar_name, name, why, uar_ptr)]
            continue
        if features is None:
            features = run_features(run, models, models_dir=models_dir, progress=progress)
            table = features.table
            codes, _ = lexical_codes(table)
        probe = lexical_probe(features.features[name], codes, features.speakers, n_permutations=n_permutations,
                              seed=seed)
        low, high = probe["interval"]
        figure = (f"sentence named from the features the heads read in {probe['accuracy']:.0%} of {probe['n']} clips "
                  f"(95 % CI {low:.0%}-{high:.0%}; {probe['n_codes']} sentences, chance {probe['chance']:.0%}; speakers "
                  f"tested never trained on; refits on sentences permuted within speakers {probe['permuted_mean']:.0%}, "
                  f"95th percentile {probe['permuted_q95']:.0%}); {PROBE_RULE}")
        out.append(check(f"shortcut.lexical_probe.{name}", probe_name, probe_status(probe["correct"], probe["n"],
                         probe["permuted"]), probe["accuracy"], probe["permuted_q95"], figure, EVIDENCE, probe_ptr,
                         control=probe["permuted_mean"], model=name, kind="lexical", chance=probe["chance"],
                         interval=probe["interval"], n_clips=probe["n"], n_codes=probe["n_codes"],
                         permuted=probe["permuted"], rule=PROBE_RULE))
        out.append(_uar_check(run, name, uar_name, uar_ptr, table, codes, seed))
    return out


def _uar_check(run: Any, name: str, title: str, pointer: str, table: pd.DataFrame, codes: np.ndarray,
               seed: int) -> dict[str, Any]:
    """The sentence UAR check of model `name` from the run's out-of-fold predictions."""
    rows = run.predictions[run.predictions["model"] == name]
    code_of = {os.path.abspath(str(p)): c for p, c in zip(table["path"], codes)}
    clip_codes = rows["path"].map(lambda p: code_of.get(os.path.abspath(str(p)))).to_numpy(dtype=object)
    if not len(rows) or pd.isna(clip_codes).all():
        reason = f"the run's out-of-fold predictions hold no clip of {name} with a sentence code"
        return _skipped(f"shortcut.lexical_uar.{name}", title, name, reason, pointer)
    result = statement_uar(rows["label"], rows["prediction"], clip_codes, rows["speaker"], seed=seed)
    beyond = result["spread"] > result["null_q95"]
    per = "; ".join(f"{c}: {r['uar']:.1f} [{r['interval'][0]:.1f}, {r['interval'][1]:.1f}] (n={r['n']})"
                    for c, r in result["per_code"].items())
    figure = (f"out-of-fold UAR by sentence {per}: spread {result['spread']:.1f} points vs {result['null_mean']:.1f} "
              f"(95th percentile {result['null_q95']:.1f}) with sentences permuted within speakers; {GAP_RULE}")
    return check(f"shortcut.lexical_uar.{name}", title, gap_status(result["spread"], beyond), result["spread"],
                 MIN_UAR_GAP, figure, EVIDENCE, pointer, control=result["null_mean"], model=name, kind="lexical",
                 per_code=result["per_code"], null_q95=result["null_q95"], n_clips=result["n"], rule=GAP_RULE)
