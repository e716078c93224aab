"""The main job: train every model (or reuse the run already trained), audit a balanced sample, write the report.

What `seraudit audit-all` runs. A second call with the same settings reuses the trained
run, the embedding cache and the clips already audited. Where the time went is kept
phase by phase (`Timings`) and written to ``RUN/timings.json``.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from seraudit.api.auditing import Audit, audit_specs
from seraudit.api.reporting import report
from seraudit.api.runs import check_data, train_settings
from seraudit.core.timing import Timings
from seraudit.ensemble.run import Run
from seraudit.xai.audit import plan as audit_plan
from seraudit.xai.audit.runner import DEFAULT_METHODS, PROBE, parse_methods

TIMINGS_FILE = "timings.json"
PROBING_PHASE = "eGeMAPS probing"
BESIDE_AUDIT = "beside the audit, in a worker process: not added to the total"


@dataclass(frozen=True)
class MainJob:
    """What the main job left: the run, its audit, the report's index page and where the time went."""

    run: Run
    audit: Audit
    page: Path
    timings: Timings
    reused_run: bool
    probing_skipped: str = ""  # why eGeMAPS probing was left out ("" when it ran or was not asked for)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def main_job(corpus: str, data: str | os.PathLike, out: str | os.PathLike, *,
             methods: str | Sequence[str] = (*DEFAULT_METHODS, PROBE), per_emotion: int = audit_plan.DEFAULT_PER_EMOTION,
             sanity: int = audit_plan.DEFAULT_SANITY_CLIPS, models_dir: str | None = None,
             allow_untrained: Sequence[str] = (), download: bool = True, max_clips: int | None = None,
             strict: bool = False, self_contained: bool = False, redact_paths: bool = False, progress: bool = True,
             engine: Any = None, interventions: bool = True, log: Callable[[str], None] = _stderr) -> MainJob:
    """Train (or reuse) a run of every model in `out`, audit `per_emotion` test clips per emotion, write the report.

    `log` receives one line per stage (default: standard error). eGeMAPS probing that
    cannot run on the corpus (e.g. too few speakers per emotion in a quick run) is
    skipped with its reason in `MainJob.probing_skipped`; the audit goes on. What the decision
    uses is asked of the audited clips next: the shortcut battery always, the verified acoustic
    interventions unless `interventions` is False (`xai.audit.model_use`).
    """
    from seraudit.core.io import read_json, write_json

    timings = Timings()
    names, probe = parse_methods(methods)
    data = check_data(corpus, data)
    settings = train_settings(corpus, data.resolve(), audit_plan.TRAINED_MODELS, allow_untrained,
                              models_dir=models_dir, download=download, max_clips=max_clips, progress=progress,
                              strict=strict)
    run_dir = Path(out)
    title = f"SERAudit — {corpus}"
    trained_run, reused = train_or_reuse(settings, run_dir, timings, log)

    specs = audit_plan.clip_specs(audit_plan.pick_clips(trained_run.predictions, per_emotion))
    models = trained_run.models(audit_plan.AUDITED_MODELS)
    from seraudit.xai.explainers.registry import with_pooling_attention

    names = with_pooling_attention(names, models)
    log(f"[2/3] auditing {len(specs)} test clips ({per_emotion} per emotion) with {', '.join(names)}"
        f"{' + eGeMAPS probing' if probe else ''}")
    deviations, probing = None, None
    if probe:
        from seraudit.xai.probing.speaker_deviations import deviations_lookup

        with timings.time("eGeMAPS deviations"):
            deviations = deviations_lookup(trained_run, specs)
        probing = ProbingBesideAudit(trained_run, models_dir)
    audit_dir = run_dir / audit_plan.AUDIT_DIR
    with timings.time("audit") as phase:
        result = audit_specs(trained_run, models, specs, audit_dir, audit_plan.fast_settings(names, probe, sanity),
                             deviations=deviations, probing=probing.result if probing else None,
                             failures=trained_run.failures, title=title, progress=progress, engine=engine,
                             selection=audit_plan.selection_rule(per_emotion))
    rows = read_json(audit_dir / "metrics.json", "audit metrics").get("rows", [])
    phase.parts, phase.note = audit_parts(phase.seconds, rows, result.index)
    skipped = ""
    if probing:
        skipped = probing.skipped
        timings.add(PROBING_PHASE, probing.seconds, note=BESIDE_AUDIT)
        if skipped:
            log(f"  eGeMAPS probing skipped: {skipped}")
    with timings.time("what the model uses (interventions, shortcut battery)" if interventions
                      else "what the model uses (shortcut battery)"):
        result = model_use(trained_run, result, [m.name for m in models], interventions, models_dir, log)
    log("[3/3] writing the report")
    write_json(run_dir / TIMINGS_FILE, timings.to_dict())  # the report's provenance shows the phases so far
    with timings.time("report"):
        page = report(trained_run, result, run_dir / audit_plan.REPORT_DIR, title=title, redact_paths=redact_paths)
        if self_contained:
            report(trained_run, result, run_dir / audit_plan.SELF_CONTAINED_REPORT_DIR, self_contained=True, title=title,
                   redact_paths=redact_paths)
    write_json(run_dir / TIMINGS_FILE, timings.to_dict())
    return MainJob(trained_run, result, page, timings, reused, skipped)


def model_use(run: Run, audited: Audit, models: Sequence[str], interventions: bool, models_dir: str | None,
              log: Callable[[str], None]) -> Audit:
    """The audit with what its models' decisions use added (`xai.audit.model_use.add_model_use`), opened again."""
    from seraudit.xai.audit.model_use import add_model_use

    paths = [clip["path"] for clip in audited.clips]
    log(f"  what the decision uses: {'interventions and ' if interventions else ''}shortcut battery on "
        f"{len(paths)} clip(s)")
    if paths:
        add_model_use(audited.path, run, paths, models, interventions=interventions, models_dir=models_dir)
    return Audit.open(audited.path)


def train_or_reuse(settings, run_dir: Path, timings: Timings, log: Callable[[str], None]) -> tuple[Run, bool]:
    """The run in `run_dir` when it was trained with `settings`, else a run trained now (timed either way)."""
    from seraudit.ensemble.training.experiment import run_experiment

    trained_run = Run.reusable(run_dir, settings)
    if trained_run is not None:
        log(f"[1/3] reusing the trained run in {run_dir}")
        timings.add("training", 0.0, note="reused")
        return trained_run, True
    log(f"[1/3] training {', '.join(audit_plan.TRAINED_MODELS)} on {settings.corpus} (speaker-independent folds) "
        f"into {run_dir}")
    with timings.time("training") as phase:
        results = run_experiment(settings, run_dir)
        trained_run = Run.open(run_dir)
    phase.parts = training_parts(results.get("seconds", {}))
    return trained_run, False


class ProbingBesideAudit:
    """eGeMAPS probing of a run in a worker process, started before the audit; `result` waits for it.

    Probing reads only the caches, never a trained model, and runs mostly single-threaded
    scikit-learn fits, while the audit leaves part of the second core idle: in a process of its
    own (a thread would fight the audit for the interpreter lock) it runs beside the audit
    instead of adding its two minutes. `probe` is the worker's function (default
    `xai.probing.run_probing.probe_run_dir`), called with the run folder and the models folder;
    it returns ``(rows or None, why skipped, seconds)``.
    """

    def __init__(self, run: Run, models_dir: str | None, probe: Callable | None = None):
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        from seraudit.xai.probing.run_probing import probe_run_dir

        self.skipped, self.seconds = "", 0.0
        # spawned, not forked: the parent holds TensorFlow's threads, which a fork would copy in a broken state
        pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
        self._future = pool.submit(probe or probe_run_dir, str(run.path), models_dir)
        pool.shutdown(wait=False)

    def result(self) -> dict | None:
        """The probing rows (None when skipped, with the reason in `skipped`); a failure of the worker is raised here."""
        probing, self.skipped, self.seconds = self._future.result()
        return probing


def training_parts(seconds: dict) -> list[tuple[str, float]]:
    """Feature extraction, cross-validation and the final models, from the run's own clock."""
    if not seconds:
        return []
    prepare, cv, total = seconds.get("prepare", 0.0), seconds.get("cross_validation", 0.0), seconds.get("total", 0.0)
    return [("layer features + eGeMAPS (cached after the first run)", prepare), ("cross-validation", cv),
            ("final models + run folder", max(total - prepare - cv, 0.0))]


def audit_parts(wall: float, rows: list[dict], index: dict) -> tuple[list[tuple[str, float]], str]:
    """Explanation time per model and method (as measured for each map), sanity check, and the rest of the audit."""
    explained: dict[tuple[str, str], float] = {}
    for row in rows:
        key = (row["model"], row["method"])
        explained[key] = explained.get(key, 0.0) + float(row.get("seconds") or 0.0)
    parts = [(f"explain {method}, {model}", seconds) for (model, method), seconds in sorted(explained.items())]
    sanity = float((index.get("sanity") or {}).get("seconds") or 0.0)
    if sanity:
        parts.append(("sanity check (model randomisation)", sanity))
    reused = int(index.get("reused") or 0)
    if reused:
        return parts, f"{reused} clip(s) reused: their explanation times are the ones recorded when they were computed"
    parts.append(("faithfulness curves, renders, writing", max(wall - sum(explained.values()) - sanity, 0.0)))
    return parts, ""
