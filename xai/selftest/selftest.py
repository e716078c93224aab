"""The selftest: train heads on planted corpora and on the unplanted one, and check that the audit catches each plant.

For each plant (`xai.selftest.plant.PLANTS`) and model, three criteria, every one measured on held-out fold models
(a clip is scored and explained by the model of the fold that tested its speaker):

1. **The shortcut check fails, beyond the clean model.** The audit's shortcut battery
   (`xai.shortcuts.battery.edit_battery`, the plant's own edit and the null edit) is run on the planted emotion's
   clips (at most `PER_EMOTION`, spread over speakers); the check the plant's cue should trip
   (``shortcut.high_band.<model>`` for the tone: everything above 6 kHz removed; ``shortcut.trim_silence.<model>``
   for the silence) must say "fail", *and* its flip rate must lie beyond the control run's flip rate on the same
   clips (95 % Wilson intervals apart). The second half is needed because a clean head's low-margin decisions
   move with any spectral change (on RAVDESS and EmoDB slices a clean YAMNet head flips 14-40 % of labels when
   the band above 6 kHz is removed, 25-65 % under the telephone band, none under the null edit), so a failing
   check alone would not say that the *plant* was caught.
2. **Removing the cue flips the decisions.** Over the planted emotion's clips, the share whose held-out prediction
   changes between the planted clip and the same clip without the cue must be at least `FLIP_SHARE`.
3. **Attribution concentrates on the cue.** For each explainer, the area under the ROC curve of the attribution
   map's cells (heard frames only) against the cue's cells, explaining the planted emotion, averaged over the
   explained clips; at least one of the audit's methods must reach `AUC_MIN` (each method's figure is printed).

A plant is *caught* when all three hold. The **control** is the same slice without any plant, trained with the same
settings. It passes when a model that never learned the cue does not look as if it had: its flip share on the same
planted/cue-removed pairs stays below `FLIP_SHARE`, and no method's attribution AUC on the planted clips reaches
`AUC_MIN` (an explainer that points at the cue on a model that ignores it would prove nothing). Its own shortcut
check is printed with its figures; it is not gated, since a failing check on the clean run is a real property of the
clean model (criterion 1 already requires the planted run to go beyond it).
The thresholds are fixed a priori, not fitted to a corpus.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from seraudit.core.errors import CorpusError
from seraudit.core.io import write_json
from seraudit.xai.selftest.plant import PLANTS, PlantedCorpus, plant_named, write_planted_corpus

FLIP_SHARE = 0.5  # removing the cue must flip at least half of the planted emotion's held-out decisions
AUC_MIN = 0.8  # attribution vs the cue's cells
DEFAULT_METHODS = ("gradcam", "occlusion")
DEFAULT_MODELS = ("yamnet",)
PER_EMOTION = 48  # planted clips the shortcut battery is run on, spread over speakers
EXPLAINED_CLIPS = 4  # planted clips each method explains, per model


@dataclass
class Verdict:
    """One model's figures on one run: the plant's shortcut check, the flip share, the attribution AUC per method."""

    model: str
    check_id: str
    check_status: str
    check_value: Any
    check_threshold: Any
    flip_share: float
    flipped: int
    flip_clips: int
    auc: dict[str, float]
    explained_clips: int
    check: dict = field(default_factory=dict)


@dataclass
class PlantOutcome:
    """A plant, its planted run's verdict and the control run's verdict on the same clips, for one model."""

    plant: str
    description: str
    emotion: str
    level: float
    unit: str
    planted: Verdict
    control: Verdict

    @property
    def beyond_control(self) -> bool:
        """The planted run's check flip rate lies beyond the control run's on the same clips (Wilson intervals)."""
        from seraudit.xai.shortcuts.rules import wilson

        p, c = self.planted.check, self.control.check
        if not p.get("n_clips") or not c.get("n_clips"):
            return False
        return wilson(int(p["flips"]), int(p["n_clips"]))[0] > wilson(int(c["flips"]), int(c["n_clips"]))[1]

    @property
    def check_caught(self) -> bool:
        return self.planted.check_status == "fail" and self.beyond_control

    @property
    def flip_caught(self) -> bool:
        return self.planted.flip_share >= FLIP_SHARE

    @property
    def attribution_caught(self) -> bool:
        return any(v >= AUC_MIN for v in self.planted.auc.values())

    @property
    def caught(self) -> bool:
        return self.check_caught and self.flip_caught and self.attribution_caught

    @property
    def control_passes(self) -> bool:
        c = self.control
        return c.flip_share < FLIP_SHARE and not any(v >= AUC_MIN for v in c.auc.values())


@dataclass
class SelfTestResult:
    """Every plant's outcome per model, where the runs are, and how long it took."""

    outcomes: list[PlantOutcome]
    out: Path
    seconds: float
    clips: int
    speakers: int
    emotions: list[str]
    failures: list[dict] = field(default_factory=list)

    @property
    def all_caught(self) -> bool:
        return bool(self.outcomes) and all(o.caught for o in self.outcomes)

    @property
    def control_passes(self) -> bool:
        return bool(self.outcomes) and all(o.control_passes for o in self.outcomes)

    @property
    def passed(self) -> bool:
        return self.all_caught and self.control_passes

    def lines(self) -> list[str]:
        """One line per plant and model ("caught" or "missed", with the figures), then the unplanted control's."""
        out = []
        for o in self.outcomes:
            beyond = "beyond" if o.beyond_control else "not beyond"
            out.append(f"{o.plant} ({o.model_label()}): {'caught' if o.caught else 'missed'} — {_figures(o.planted)}; "
                       f"check {beyond} the control's flip rate")
        for o in self.outcomes:
            out.append(f"control for {o.plant} ({o.model_label()}), unplanted: "
                       f"{'passes' if o.control_passes else 'FAILS'} — {_figures(o.control)}")
        return out

    def to_dict(self) -> dict:
        return {
            "passed": self.passed, "all_caught": self.all_caught, "control_passes": self.control_passes,
            "thresholds": {"flip_share": FLIP_SHARE, "auc": AUC_MIN},
            "clips": self.clips, "speakers": self.speakers, "emotions": self.emotions, "seconds": self.seconds,
            "failures": self.failures,
            "outcomes": [{**asdict(o), "caught": o.caught, "control_passes": o.control_passes,
                          "criteria": {"check": o.check_caught, "check_beyond_control": o.beyond_control,
                                       "flip": o.flip_caught,
                                       "attribution": o.attribution_caught}} for o in self.outcomes],
            "lines": self.lines(),
        }


def _model_label(self: PlantOutcome) -> str:
    return f"{self.planted.model}, on {self.emotion}, {self.level:g} {self.unit}"


PlantOutcome.model_label = _model_label  # type: ignore[attr-defined]


def _number(value: Any) -> str:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return "nan" if isinstance(value, float) and math.isnan(value) else f"{value:.3g}"
    return str(value)


def _figures(v: Verdict) -> str:
    auc = ", ".join(f"{m} {_number(a)}" for m, a in v.auc.items()) or "none"
    flips = f"{v.check.get('flips')}/{v.check.get('n_clips')} flipped, " if v.check.get("n_clips") else ""
    control = f", null edit {_number(v.check.get('control'))}" if v.check.get("control") is not None else ""
    return (f"{v.check_id} {v.check_status} ({flips}value {_number(v.check_value)}, threshold "
            f"{_number(v.check_threshold)}{control}); cue removed flips {v.flipped}/{v.flip_clips} = "
            f"{v.flip_share:.2f} (threshold {FLIP_SHARE:g}); attribution AUC on the cue {auc} (threshold "
            f"{AUC_MIN:g}; {v.explained_clips} clips)")


# ---------------------------------------------------------------------------------------------------------------------


def cue_auc(attribution_map: np.ndarray, cue: np.ndarray, heard: np.ndarray) -> float:
    """Area under the ROC curve of the map's cells against the cue's cells, over the heard frames (NaN when the heard
    cells hold no cue cell or nothing else)."""
    from sklearn.metrics import roc_auc_score

    heard = np.asarray(heard, bool)
    scores = np.nan_to_num(np.asarray(attribution_map, np.float64)[heard]).ravel()
    truth = np.asarray(cue, bool)[heard].ravel()
    if truth.all() or not truth.any():
        return float("nan")
    return float(roc_auc_score(truth, scores))


def balanced_sample(table: pd.DataFrame, per_emotion: int, seed: int = 0) -> pd.DataFrame:
    """Up to `per_emotion` clips of each emotion, spread over speakers (seeded)."""
    parts = []
    for _, group in table.groupby("label", sort=True):
        shuffled = group.sample(frac=1.0, random_state=seed)
        rank = shuffled.groupby("speaker").cumcount()
        parts.append(shuffled.assign(_r=rank.values).sort_values(["_r", "speaker"], kind="stable").head(per_emotion))
    return pd.concat(parts).drop(columns="_r").sort_values("path").reset_index(drop=True)


class SharedRun:
    """A `Run` whose fold models and file clips are loaded once and shared by the shortcut battery, the flips and the
    maps (each load of a fold model rebuilds and retraces its graph; each file clip is decoded and cut again).

    Everything else is the run's own. Edited waveforms (``run.clip((waveform, rate))``) are never cached."""

    def __init__(self, run: Any):
        self._run, self._models, self._clips = run, {}, {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._run, name)

    def model(self, name: str, fold: int | None = None, *, base: Any = None) -> Any:
        if (name, fold) not in self._models:
            self._models[name, fold] = self._run.model(name, fold, base=base)
        return self._models[name, fold]

    def model_for_clip(self, name: str, path: str | os.PathLike, *, base: Any = None) -> Any:
        """`Run.model_for_clip`, from the loaded models."""
        rows = self._run.corpus_row(path)
        fold = self._run.fold_of(str(rows["speaker"].iloc[0])) if len(rows) else None
        if self._run.has_fold_model(name, fold):
            return self.model(name, fold, base=base)
        return base if base is not None else self.model(name)

    def clip(self, source: Any, **options: Any) -> Any:
        if options or not isinstance(source, (str, os.PathLike)):
            return self._run.clip(source, **options)
        key = os.path.abspath(os.fspath(source))
        if key not in self._clips:
            self._clips[key] = self._run.clip(source)
        return self._clips[key]


class _FoldModels:
    """A run's held-out fold models, loaded once each: the model of the fold that tested a speaker."""

    def __init__(self, run: Any, name: str):
        self.run, self.name, self.cache = run, name, {}

    def for_speaker(self, speaker: str):
        fold = self.run.fold_of(speaker)
        if fold is None or not self.run.has_fold_model(self.name, fold):
            raise CorpusError(f"{self.run.path}: no held-out {self.name} model for speaker {speaker} (every selftest "
                              "clip belongs to the run's corpus); train the run again")
        if fold not in self.cache:
            self.cache[fold] = self.run.model(self.name, fold)
        return self.cache[fold]


def _speaker_of(run: Any, path: str) -> str:
    rows = run.corpus_row(path)
    if not len(rows):
        raise CorpusError(f"{path} is not a clip of the run {run.path}; the selftest scores corpus clips only")
    return str(rows["speaker"].iloc[0])


def flip_share(run: Any, model: str, pairs: Sequence[tuple[str, str, str]]) -> tuple[int, int]:
    """(flipped, clips): how many (speaker's corpus clip, planted file, cue-removed file) pairs change their held-out
    prediction when the cue is removed. The speaker's clip names the fold whose model scores both files."""
    models = _FoldModels(run, model)
    flipped = 0
    for corpus_clip, planted, removed in pairs:
        m = models.for_speaker(_speaker_of(run, corpus_clip))
        a = int(np.argmax(m.predict_clip(run.clip(planted)).probabilities))
        b = int(np.argmax(m.predict_clip(run.clip(removed)).probabilities))
        flipped += a != b
    return flipped, len(pairs)


def attribution_auc(run: Any, model: str, clips: Sequence[tuple[str, str]], plant: str, emotion: str,
                    methods: Sequence[str], level: float | None = None) -> dict[str, float]:
    """Mean AUC per method of the held-out model's maps for `emotion` on planted files against the cue's cells.

    `clips` pairs each planted file with the corpus clip whose speaker names the fold."""
    from seraudit.xai.explainers.heard import heard_frames
    from seraudit.xai.explainers.registry import explain_clip

    cue = plant_named(plant)
    models = _FoldModels(run, model)
    params = {"occlusion": {"fill": cue.occlusion_fill}}
    scores: dict[str, list[float]] = {m: [] for m in methods}
    for corpus_clip, planted in clips:
        m = models.for_speaker(_speaker_of(run, corpus_clip))
        clip = run.clip(planted)
        heard = heard_frames(clip)
        cells = cue.cue_cells(clip.audio.waveform, clip.log_mel.shape[0], level)
        for attribution in explain_clip([m], clip, list(methods), target=emotion, params=params):
            scores[attribution.method].append(cue_auc(attribution.clip_map, cells, heard))
    return {m: float(np.nanmean(v)) if v and not np.isnan(v).all() else float("nan") for m, v in scores.items()}


# ---------------------------------------------------------------------------------------------------------------------

ShortcutChecks = Callable[[Any, Sequence[str], Sequence[str]], list]


def _battery(edit: str) -> ShortcutChecks:
    """The audit's check of one edit (``shortcut.<edit>.<model>``, judged against the null edit as in the audit)."""
    from seraudit.xai.shortcuts.battery import edit_battery
    from seraudit.xai.shortcuts.edits import EDITS

    def checks(run: Any, paths: Sequence[str], models: Sequence[str]) -> list:
        return edit_battery(run, paths, models, edits={edit: EDITS[edit]})["checks"]

    return checks


def corpus_slice(corpus: str, data: str | os.PathLike, *, emotions: Sequence[str] | None = None,
                 speakers: Sequence[str] | None = None, max_clips: int | None = None, seed: int = 0) -> pd.DataFrame:
    """The clips the selftest plants: `corpus` read from `data`, restricted to `emotions` and `speakers` (a speaker
    matches by its full id, ``ravdess_01``, or the part after the corpus, ``01``), then at most `max_clips` spread
    over speakers and emotions."""
    from seraudit.ensemble.data.corpus_data import select_clips
    from seraudit.preprocessing.corpora import read_corpus

    table = read_corpus(corpus, data)
    if emotions:
        unknown = sorted(set(emotions) - set(table["label"]))
        if unknown:
            raise CorpusError(f"{data}: no clips of emotion(s) {', '.join(unknown)} (it holds "
                              f"{', '.join(sorted(set(table['label'])))}); pass `emotions` from those")
        table = table[table["label"].isin(emotions)]
    if speakers:
        wanted = {str(s) for s in speakers}
        short = table["speaker"].astype(str).str.split("_", n=1).str[-1]
        keep = table["speaker"].astype(str).isin(wanted) | short.isin(wanted) | short.str.lstrip("0").isin(wanted)
        if not keep.any():
            raise CorpusError(f"{data}: none of the speakers {', '.join(sorted(wanted))} is in the corpus (e.g. "
                              f"{', '.join(sorted(set(table['speaker']))[:4])}); pass `speakers` from those")
        table = table[keep]
    table = select_clips(table, max_clips, seed)
    if table["speaker"].nunique() < 3 or table["label"].nunique() < 2:
        raise CorpusError(f"the selftest slice holds {table['speaker'].nunique()} speaker(s) and "
                          f"{table['label'].nunique()} emotion(s); it needs 3 speakers and 2 emotions at least for "
                          "speaker-independent folds (pass more `speakers` or a larger `max_clips`)")
    return table.reset_index(drop=True)


def train_run(manifest: Path, out: Path, models: Sequence[str], *, gds: bool, models_dir: str | None,
              cache_dir: str | None, seed: int, progress: bool):
    """Cross-validate `models` on a planted (or control) manifest into `out`; the opened `Run`."""
    from seraudit.ensemble.run import Run
    from seraudit.ensemble.training.experiment import run_experiment
    from seraudit.ensemble.training.settings import TrainSettings
    from seraudit.preprocessing.gds import GdsSettings

    settings = TrainSettings(corpus="manifest", data=str(manifest), models=list(models), gds=GdsSettings(enabled=gds),
                             models_dir=models_dir, download=models_dir is None, cache_dir=cache_dir, seed=seed,
                             progress=progress, n_boot=200, command_line=["selftest"])
    run_experiment(settings, out)
    return Run.open(out)


def _check_of(checks: list, check_id: str) -> dict:
    for c in checks:
        if c.get("id") == check_id:
            return c
    return {"id": check_id, "status": "absent", "value": None, "threshold": None,
            "figure": f"the shortcut battery returned no check {check_id} (it returned "
                      f"{', '.join(str(c.get('id')) for c in checks) or 'none'})"}


def _verdict(run: Any, model: str, check: dict, flips: tuple[int, int], auc: dict[str, float], explained: int) -> Verdict:
    flipped, n = flips
    return Verdict(model=model, check_id=str(check.get("id")), check_status=str(check.get("status")),
                   check_value=check.get("value"), check_threshold=check.get("threshold"),
                   flip_share=flipped / n if n else float("nan"), flipped=flipped, flip_clips=n, auc=auc,
                   explained_clips=explained, check=check)


def run_selftest(data: str | os.PathLike, corpus: str, out: str | os.PathLike, *,
                 plants: Sequence[str] = tuple(PLANTS), models: Sequence[str] = DEFAULT_MODELS,
                 emotion: str | None = None, emotions: Sequence[str] | None = None,
                 speakers: Sequence[str] | None = None, max_clips: int | None = None,
                 methods: Sequence[str] = DEFAULT_METHODS, per_emotion: int = PER_EMOTION,
                 explained_clips: int = EXPLAINED_CLIPS, levels: dict[str, float] | None = None,
                 models_dir: str | None = None, cache_dir: str | None = None, seed: int = 0, progress: bool = False,
                 shortcut_checks: ShortcutChecks | None = None) -> SelfTestResult:
    """Plant each cue on `emotion`'s clips of a slice of `corpus`, train `models` on each planted corpus and on the
    unplanted one, and check that the audit catches every plant and passes the control (module docstring).

    `out` receives ``control/`` and ``<plant>/`` (each a planted corpus with its ``run/``) and ``selftest.json``.
    `emotion` defaults to the slice's first emotion (canonical order); `levels` overrides a plant's level (dB re the
    clip's RMS for the tone, seconds for the silence); `shortcut_checks` replaces the audit's battery
    (``edit_checks(run, paths, models)``), for tests.
    """
    from seraudit.ensemble.data.corpus_data import label_set

    start = time.perf_counter()
    out = Path(out)
    cues = [plant_named(p) for p in plants]
    if not cues:
        raise CorpusError("no plant to test; pass `plants` from " + ", ".join(PLANTS))
    table = corpus_slice(corpus, data, emotions=emotions, speakers=speakers, max_clips=max_clips, seed=seed)
    labels = label_set(table["label"])
    emotion = emotion or labels[0]
    levels = dict(levels or {})
    common = dict(models_dir=models_dir, cache_dir=cache_dir, seed=seed, progress=progress)

    control = write_planted_corpus(table, out / "control", None, emotion)
    control_runs = {}
    for gds in sorted({c.gds for c in cues}):
        control_runs[gds] = SharedRun(train_run(control.manifest, out / "control" / ("run" if gds else "run-no-gds"),
                                                models, gds=gds, **common))
    outcomes, failures = [], list(control.failures)
    for cue in cues:
        level = levels.get(cue.name, cue.level)
        planted = write_planted_corpus(table, out / cue.name, cue.name, emotion, level)
        failures += planted.failures
        run = SharedRun(train_run(planted.manifest, out / cue.name / "run", models, gds=cue.gds, **common))
        clean = control_runs[cue.gds]
        outcomes += _judge(run, clean, planted, control, cue.name, level, models, methods, per_emotion,
                           explained_clips, shortcut_checks or _battery(cue.check), seed)
    result = SelfTestResult(outcomes, out, time.perf_counter() - start, len(table), int(table["speaker"].nunique()),
                            labels, failures)
    write_json(out / "selftest.json", result.to_dict())
    return result


def _judge(run: Any, clean: Any, planted: PlantedCorpus, control: PlantedCorpus, plant: str, level: float,
           models: Sequence[str], methods: Sequence[str], per_emotion: int, explained_clips: int,
           checks_of: ShortcutChecks, seed: int) -> list[PlantOutcome]:
    """Every model's verdict on the planted run and on the control run."""
    cue = plant_named(plant)
    by_source = control.table.set_index("source")["path"]
    pairs = planted.planted
    sample = balanced_sample(pairs, per_emotion, seed)
    control_sample = [by_source[s] for s in sample["source"]]
    planted_pairs = [(p, p, r) for p, r in zip(pairs["path"], pairs["removed"])]
    control_pairs = [(by_source[s], p, r) for s, p, r in zip(pairs["source"], pairs["path"], pairs["removed"])]
    explained = balanced_sample(pairs, explained_clips, seed)  # spread over speakers
    planted_clips = [(p, p) for p in explained["path"]]
    control_clips = [(by_source[s], p) for s, p in zip(explained["source"], explained["path"])]
    outcomes = []
    for model in models:
        check_id = f"shortcut.{cue.check}.{model}"
        verdicts = []
        for r, paths, flip_pairs, clips in ((run, list(sample["path"]), planted_pairs, planted_clips),
                                            (clean, control_sample, control_pairs, control_clips)):
            check = _check_of(list(checks_of(r, paths, [model])), check_id)
            flips = flip_share(r, model, flip_pairs)
            auc = attribution_auc(r, model, clips, plant, planted.emotion, methods, level)
            check = {k: v for k, v in check.items() if k != "clips"}  # the per-clip evidence stays with the battery
            verdicts.append(_verdict(r, model, check, flips, auc, len(clips)))
        outcomes.append(PlantOutcome(plant, cue.description if level == cue.level else
                                     f"{cue.name} at {level:g} {cue.unit}", planted.emotion, level, cue.unit,
                                     *verdicts))
    return outcomes
