"""The main job's plan (`seraudit audit-all`): what it trains and audits, which test clips it picks, its cheaper presets.

The job trains every model on the corpus, then audits a small balanced sample of
the cross-validation test clips with settings cheap enough for a corpus audit to
fit in minutes on two CPU cores. `benchmarks/audit_speed.py` times the same settings.
"""

from __future__ import annotations

import math
from typing import Sequence

import pandas as pd

from seraudit.ensemble.run import RUN_MODELS
from seraudit.ensemble.model.spec import NEURAL_MODELS
from seraudit.xai.audit.runner import REFERENCE_MODEL, AuditSettings
from seraudit.xai.audit.clip_identity import ClipSpec

TRAINED_MODELS = RUN_MODELS  # every model a run can hold
AUDITED_MODELS = NEURAL_MODELS  # the Keras models; the eGeMAPS baseline has no attribution

# Folders inside the run folder.
AUDIT_DIR = "audit"
REPORT_DIR = "report"
SELF_CONTAINED_REPORT_DIR = f"{REPORT_DIR}-single"

# One per emotion (alternating a mistake and a correct clip) keeps the default job within
# 20 minutes on two cores: a full-size VGGish inside two of the three models dominates.
DEFAULT_PER_EMOTION = 1
DEFAULT_SANITY_CLIPS = 8  # model randomisation on 8 clips per model (its threshold is calibrated over them)

# Cheaper than the `explain` defaults so a corpus audit fits in minutes on two cores;
# recorded in the audit's settings.
FAST_EXPLAINER_PARAMS = {"lime": {"num_samples": 150}, "lime-time": {"num_samples": 150}}
FAST_STEPS, FAST_RANDOM = 10, 5  # 5 random orders: the null that calibrates deletion/insertion
# Model randomisation cascades over the head, then the head and each branch's top block (two stages, plus the
# second random draw that calibrates the threshold); `seraudit explain` goes one block deeper. One block fewer
# saves about a third of the check's time (the main job's costliest step).
FAST_SANITY_BLOCKS = 1


def fast_settings(methods: Sequence[str], probe: bool, sanity_clips: int = 0) -> AuditSettings:
    """The audit settings of the main job: fewer faithfulness steps, five random orders, fewer LIME samples,
    a shorter randomisation cascade."""
    return AuditSettings(
        methods=tuple(methods), probe=probe, faithfulness_steps=FAST_STEPS, faithfulness_random=FAST_RANDOM,
        sanity_clips=sanity_clips, sanity_blocks=FAST_SANITY_BLOCKS, explainer_params=FAST_EXPLAINER_PARAMS,
    )


def pick_clips(predictions: pd.DataFrame, per_emotion: int, reference: str = REFERENCE_MODEL) -> pd.DataFrame:
    """A balanced sample of test clips: `per_emotion` per true label, half of them the reference model's mistakes.

    Mistakes are taken most-confident first (the clips a person should hear), correct
    clips least-confident first, ties broken by path; with one clip per emotion,
    emotions (in alphabetical order) alternate between a mistake (first emotion) and a
    correct clip. Falls back to the other kind when one runs out. `predictions` is
    shaped like a run's predictions.csv (model, path, label, prediction, p_<label>...);
    without rows of `reference`, the first model's rows are used. Sorted by label, path.
    """
    own = predictions[predictions["model"] == reference]
    if own.empty:
        own = predictions[predictions["model"] == predictions["model"].iloc[0]]
    prob_cols = [c for c in own.columns if c.startswith("p_")]
    own = own.assign(confidence=own[prob_cols].max(axis=1), wrong=own["label"] != own["prediction"])
    picked = []
    for i, (label, group) in enumerate(sorted(own.groupby("label"), key=lambda kv: str(kv[0]))):
        wrong = group[group["wrong"]].sort_values(["confidence", "path"], ascending=[False, True])
        right = group[~group["wrong"]].sort_values(["confidence", "path"], ascending=[True, True])
        n_wrong = math.ceil(per_emotion / 2) if per_emotion > 1 else (1 if i % 2 == 0 else 0)
        n_wrong = min(n_wrong, len(wrong))
        n_right = min(per_emotion - n_wrong, len(right))
        n_wrong = min(per_emotion - n_right, len(wrong))
        picked += [wrong.head(n_wrong), right.head(n_right)]
    return pd.concat(picked).sort_values(["label", "path"]).reset_index(drop=True)


def selection_rule(per_emotion: int, reference: str = REFERENCE_MODEL) -> str:
    """The rule `pick_clips` applies, in words, as the report states it beside the audited clips."""
    if per_emotion == 1:
        split = ("emotions in alphabetical order alternate between the most confident mistake (first emotion) and "
                 "the least confident correct clip")
    else:
        split = (f"{math.ceil(per_emotion / 2)} of them the most confident mistakes, the rest the least confident "
                 "correct clips")
    return (f"{per_emotion} cross-validation test clip(s) per true emotion, judged by the {reference}'s out-of-fold "
            f"predictions (predictions.csv): {split}; the other kind fills in when one runs out, ties broken by path.")


def clip_specs(chosen: pd.DataFrame) -> list[ClipSpec]:
    """The clips to audit, with their true label and speaker, from rows of `pick_clips`."""
    return [ClipSpec(str(p), str(lab), str(spk)) for p, lab, spk in zip(chosen["path"], chosen["label"], chosen["speaker"])]
