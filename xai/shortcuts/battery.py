"""The edit battery: each audited clip edited (silence, gain, telephone band) and re-predicted, as verdict checks.

For every model and clip the model is the held-out one (`Run.model_for_clip`: for a corpus
clip, the model of the fold that tested its speaker). The original clip, each edit of
`xai.shortcuts.edits.EDITS` and the null edit (one sample of delay) are cut by the run's own
front end (`Run.clip((waveform, 16000))`, so GDS picks the edited clip's patches as it would
for a file) and scored like the model's own clip prediction
(`xai.explainers.perturbation.ClipScorer.original`). One check per (edit, model):
``shortcut.<edit>.<model>``, valued by the label flip rate over the clips, with the null
edit's flip rate as its control and the rule of `xai.shortcuts.rules` (`EDIT_RULE`). Each
check carries its per-clip evidence (``clips``: the original's and the edit's label and
probabilities, whether it flipped, the change in the original label's probability).

A clip that cannot be loaded is recorded in ``failures`` with its reason and the batch goes
on; an edit that does not apply to a clip (no voiced frame to trim around) leaves that clip
out of that edit's check, listed in its ``skipped``.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Sequence

import numpy as np

from seraudit.core.constants import SAMPLE_RATE
from seraudit.core.errors import AudioError, SerauditError
from seraudit.ensemble.inference.shared_backbones import EmbeddingMemo, share_towers
from seraudit.xai.audit.checks import check, json_pointer, short_model_name
from seraudit.xai.explainers.perturbation import ClipScorer
from seraudit.xai.shortcuts.edits import EDIT_TITLES, EDITS, NULL_EDIT, NULL_EDIT_FN, EditSkipped, applied_gain_db
from seraudit.xai.shortcuts.rules import EDIT_RULE, MIN_FLIP_SHARE, SKIPPED, flip_status, wilson

#: Where the report shows the shortcut checks (the lead's report section).
EVIDENCE = "index.html#shortcuts"


def clip_probabilities(model: Any, clip: Any) -> np.ndarray:
    """A model's clip probabilities ``[C]`` for a `ClipFeatures`, pooled exactly like its own clip prediction."""
    return np.asarray(ClipScorer(model, clip).original(), dtype=np.float64)


def _fold_key(run: Any, path: str) -> Any:
    """Which fold's model explains `path` (None: the final model), without loading it."""
    rows = run.corpus_row(path) if hasattr(run, "corpus_row") else []
    if not len(rows):
        return None
    return run.fold_of(str(rows["speaker"].iloc[0]))


def _variants(run: Any, waveform: np.ndarray, edits: dict[str, Callable]) -> tuple[dict, dict, dict]:
    """Each edit's cut clip (or the reason it does not apply) and what it measured (length, RMS level change)."""
    clips, skipped, measured = {}, {}, {}
    for name, edit in edits.items():
        try:
            edited = np.asarray(edit(waveform, SAMPLE_RATE), dtype=np.float32)
            clips[name] = run.clip((edited, SAMPLE_RATE))
        except (EditSkipped, AudioError) as error:
            skipped[name] = str(error)
            continue
        level = applied_gain_db(waveform, edited)  # RMS over the whole clip: the gain edits' applied gain
        measured[name] = {"duration_s": round(edited.size / SAMPLE_RATE, 4),
                          "level_change_db": round(level, 3) if np.isfinite(level) else None}
    return clips, skipped, measured


def _prediction(labels: Sequence[str], probs: np.ndarray) -> dict[str, Any]:
    return {"label": labels[int(np.argmax(probs))], "probabilities": {lab: round(float(p), 6) for lab, p in zip(labels, probs)}}


def edit_battery(run: Any, paths: Sequence[str | os.PathLike], models: Sequence[Any], *,
                 edits: dict[str, Callable] | None = None) -> dict[str, Any]:
    """Every clip of `paths` edited and re-predicted by each model's held-out fold model.

    `models` are model names, or final `TrainedModel`s (their towers are shared by the fold
    models). Returns ``{"checks", "clips", "failures", "edits", "null_edit", "rule"}``:
    ``clips[model]`` holds one record per clip (the fold that explains it, the original
    prediction, each edit's and the null edit's prediction and measurements), ``checks``
    one check per edit and model (see the module docstring).
    """
    edits = dict(EDITS if edits is None else edits)
    if NULL_EDIT in edits:
        raise ValueError(f"{NULL_EDIT!r} is the control of every edit; name the edits otherwise")
    named = [(m, None) if isinstance(m, str) else (m.name, m) for m in models]
    failures: list[dict[str, str]] = []
    records: dict[str, list[dict]] = {name: [] for name, _ in named}
    titles: dict[str, str] = {name: str(getattr(base, "display_name", name) if base is not None else name)
                              for name, base in named}
    groups: dict[Any, list[str]] = {}
    memo = EmbeddingMemo()  # the ensemble's towers and the single models' run once per distinct edited patch
    for path in [os.fspath(p) for p in paths]:
        groups.setdefault(_fold_key(run, path), []).append(path)
    for fold, group in groups.items():
        held: dict[str, Any] = {}  # this fold's models, loaded on first use, released with the fold
        for path in group:
            try:
                original = run.clip(path)
                waveform = np.asarray(original.audio.waveform, dtype=np.float64)
                clips, skipped, measured = _variants(run, waveform, {**edits, NULL_EDIT: NULL_EDIT_FN})
            except (AudioError, SerauditError, OSError, ValueError) as error:
                failures.append({"clip": path, "error": str(error), "stage": "shortcuts"})
                continue
            if NULL_EDIT not in clips:
                failures.append({"clip": path, "error": f"the null edit could not be cut: {skipped.get(NULL_EDIT)}",
                                 "stage": "shortcuts"})
                continue
            for name, base in named:
                if name not in held:
                    held[name] = share_towers(run.model_for_clip(name, path, base=base), memo)
                    if base is None:
                        titles[name] = str(getattr(held[name], "display_name", name))
                model = held[name]
                labels = list(model.labels)
                before = clip_probabilities(model, original)
                top = int(np.argmax(before))
                record = {"clip": path, "fold": fold, "original": _prediction(labels, before), "edits": {},
                          "skipped": dict(skipped)}
                for edit, clip in clips.items():
                    after = clip_probabilities(model, clip)
                    record["edits"][edit] = {**_prediction(labels, after), "flipped": bool(int(np.argmax(after)) != top),
                                             "delta_p": round(float(abs(after[top] - before[top])), 6), **measured[edit]}
                records[name].append(record)
    checks = [edit_check(name, titles[name], edit, records[name]) for name, _ in named for edit in edits]
    return {"checks": checks, "clips": records, "failures": failures, "edits": {e: EDIT_TITLES.get(e, e) for e in edits},
            "null_edit": NULL_EDIT, "rule": EDIT_RULE}


def records_skipped(records: Sequence[dict], edit: str) -> str:
    """Why an edit left clips out, the first reason and how many share the edit."""
    reasons = [r["skipped"][edit] for r in records if edit in r["skipped"]]
    return f"{reasons[0]}{' ...' if len(reasons) > 1 else ''}" if reasons else ""


def edit_check(model: str, title: str, edit: str, records: Sequence[dict]) -> dict[str, Any]:
    """The check of one edit for one model, from its per-clip records (`edit_battery`'s ``clips[model]``)."""
    scored = [r for r in records if edit in r["edits"]]
    n, flips = len(scored), sum(r["edits"][edit]["flipped"] for r in scored)
    cn, cflips = len(records), sum(r["edits"][NULL_EDIT]["flipped"] for r in records)
    rate = flips / n if n else None
    control = cflips / cn if cn else None
    dp = float(np.mean([r["edits"][edit]["delta_p"] for r in scored])) if n else None
    cdp = float(np.mean([r["edits"][NULL_EDIT]["delta_p"] for r in records])) if cn else None
    low, high = wilson(flips, n)
    clow, chigh = wilson(cflips, cn)
    status = flip_status(flips, n, cflips, cn)
    levels = [r["edits"][edit]["level_change_db"] for r in scored if r["edits"][edit]["level_change_db"] is not None]
    what = EDIT_TITLES.get(edit, edit)
    if n:
        figure = (f"{flips}/{n} labels flipped ({rate:.0%}, 95 % CI {low:.0%}-{high:.0%}) vs {cflips}/{cn} under the "
                  f"null edit (1-sample shift, CI {clow:.0%}-{chigh:.0%}); mean |Δp| of the original label {dp:.3f} vs "
                  f"{cdp:.3f}" + (f"; {len(records) - n} clip(s) left out ({records_skipped(records, edit)})"
                                   if n < len(records) else "") + f"; {EDIT_RULE}")
    elif records:
        status = SKIPPED
        figure = f"not applicable: no clip could be edited ({what}): {records[0]['skipped'].get(edit, 'no reason')}"
    else:
        figure = f"no clip could be scored ({what}); nothing to judge"
    skipped = [{"clip": r["clip"], "reason": r["skipped"][edit]} for r in records if edit in r["skipped"]]
    evidence = [{"clip": r["clip"], "fold": r["fold"], "original": r["original"], "edited": r["edits"][edit],
                 "control": r["edits"][NULL_EDIT]} for r in scored]
    return check(f"shortcut.{edit}.{model}", f"{short_model_name(model, title)} ignores {what}", status, rate, MIN_FLIP_SHARE, figure,
                 EVIDENCE, json_pointer("shortcuts", "edits", model, edit), control=control, model=model, edit=edit,
                 kind="edit", n_clips=n, flips=flips, control_flips=cflips, control_n=cn,
                 interval=[low, high], control_interval=[clow, chigh], delta_p=dp, control_delta_p=cdp,
                 mean_level_change_db=float(np.mean(levels)) if levels else None, rule=EDIT_RULE, null_edit=NULL_EDIT,
                 skipped=skipped, clips=evidence)


def edit_checks(run: Any, paths: Sequence[str | os.PathLike], models: Sequence[Any]) -> list[dict[str, Any]]:
    """One verdict check per (edit, model), ids ``shortcut.<edit>.<model>``, each with its per-clip evidence
    (``clips``); see `edit_battery` for the failures and the records by clip."""
    return edit_battery(run, paths, models)["checks"]
