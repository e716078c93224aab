"""Auditing clips of a run: explained by every model and method, scored, written to an audit folder.

`audit` picks the clips (given ones, or a balanced sample of the run's test clips per
emotion), checks each file before anything loads, and hands the batch to
`seraudit.xai.audit.runner.run_audit`. The folder it writes is what `report` reads.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from seraudit.core.errors import SerauditError
from seraudit.ensemble.model.spec import NEURAL_MODELS
from seraudit.ensemble.run import Run
from seraudit.xai.audit import plan as audit_plan
from seraudit.xai.audit.runner import DEFAULT_METHODS, AuditSettings, parse_methods, run_audit

STATUSES = ("pass", "warn", "fail")


@dataclass(frozen=True)
class Audit:
    """An audit folder and its index (``audit.json``): clips, failures, metric summary and pass/warn/fail checks."""

    path: Path
    index: dict[str, Any] = field(repr=False)

    @classmethod
    def open(cls, path: str | os.PathLike) -> "Audit":
        """The audit written into `path` before (a missing or unreadable index says how to re-create it)."""
        from seraudit.xai.audit.folder import read_audit_index

        return cls(Path(path), read_audit_index(path))

    @property
    def clips(self) -> list[dict[str, Any]]:
        return self.index.get("clips", [])

    @property
    def failures(self) -> list[dict[str, str]]:
        return self.index.get("failures", [])

    @property
    def summary(self) -> Any:
        """Metric means per model and method (``audit.json`` "summary")."""
        return self.index.get("summary")

    @property
    def checks(self) -> list[dict[str, Any]]:
        """The pass/warn/fail checks of the audit, as the report's index lists them."""
        return self.index.get("checks", [])

    @property
    def reused(self) -> int:
        """Clips taken from the folder unchanged (same file, models and settings as before)."""
        return int(self.index.get("reused") or 0)

    def verdict(self) -> dict[str, int]:
        """How many checks passed, warned and failed."""
        statuses = [c.get("status") for c in self.checks]
        return {s: statuses.count(s) for s in STATUSES}

    def _repr_html_(self) -> str:
        from seraudit.core.notebook import html_table

        rows = [(c.get("name", ""), c.get("status", ""), c.get("figure", c.get("value", ""))) for c in self.checks]
        counts = ", ".join(f"{n} {s}" for s, n in self.verdict().items())
        caption = f"Audit {self.path} — {len(self.clips)} clip(s), {len(self.failures)} failed; {counts}"
        return html_table(("check", "status", "value"), rows, caption=caption)


def audit(run: Run | str | os.PathLike, clips: Sequence[str | os.PathLike] | None = None, *,
          per_emotion: int | None = None, out: str | os.PathLike | None = None,
          methods: str | Sequence[str] = DEFAULT_METHODS, models: Sequence[str] | None = None,
          probe: bool = False, sanity: int = 0, target: str | None = None, fast: bool | None = None,
          require_speech: bool = False, max_duration_s: float | None = None, title: str | None = None,
          progress: bool = True, engine: Any = None) -> Audit:
    """Explain, score and check `clips` (files), or `per_emotion` test clips of the run per emotion; write `out`.

    `out` defaults to the run's ``audit/`` folder. `models` defaults to every Keras model of
    the run; `methods` to the library's defaults (``"probe"`` among them, or `probe=True`,
    adds each clip's eGeMAPS deviations from its speaker's neutral clips). `sanity` runs the
    model-randomisation check on that many clips. `fast` (default: on for a `per_emotion`
    sample) uses the main job's cheaper settings. A file that cannot be used is recorded in
    the audit's failures and the batch goes on.
    """
    from seraudit.xai.explainers.registry import with_pooling_attention
    from seraudit.xai.probing.speaker_deviations import deviations_lookup

    run = run if isinstance(run, Run) else Run.open(run)
    if (clips is None) == (per_emotion is None):
        raise SerauditError("give the clips to audit either as `clips` (files) or as `per_emotion` (a number of the "
                            "run's test clips per emotion), not both")
    names, asked_probe = parse_methods(methods)
    probe = probe or asked_probe
    trained = run.models(models if models is not None else [m for m in NEURAL_MODELS if m in run.model_names])
    if target is not None:
        for model in trained:
            if target not in model.labels:
                raise SerauditError(f"`target` {target!r} is not a class of {model.display_name}: {', '.join(model.labels)}")
    early: list[dict[str, str]] = []
    if clips is not None:
        specs, early = clip_specs(run, clips)
        selection = "the files given to the audit"
    else:
        specs = audit_plan.clip_specs(audit_plan.pick_clips(run.predictions, per_emotion))
        selection = audit_plan.selection_rule(per_emotion)
    names = with_pooling_attention(names, trained)
    fast = per_emotion is not None if fast is None else fast
    settings = (audit_plan.fast_settings(names, probe, sanity) if fast
                else AuditSettings(methods=names, probe=probe, target=target, sanity_clips=sanity))
    if fast and target is not None:
        settings = dataclasses.replace(settings, target=target)
    deviations = deviations_lookup(run, specs, progress=progress) if probe else None
    out = Path(out) if out is not None else run.path / audit_plan.AUDIT_DIR
    return audit_specs(run, trained, specs, out, settings, deviations=deviations, failures=early,
                       require_speech=require_speech, max_duration_s=max_duration_s,
                       title=title if title is not None else f"Audit of {run.path.name}", progress=progress, engine=engine,
                       selection=selection)


def clip_specs(run: Run, paths: Sequence[str | os.PathLike]) -> tuple[list, list[dict[str, str]]]:
    """(specs of the usable files, failure entries of the others): a pipe or a folder never reaches a decoder."""
    from seraudit.core.errors import AudioError
    from seraudit.preprocessing.audio import check_audio_path
    from seraudit.xai.audit.clip_identity import specs_from_run

    usable, early = [], []
    for path in paths:
        try:
            usable.append(check_audio_path(path))
        except AudioError as error:
            early.append({"clip": os.fspath(path), "error": str(error), "stage": "audit"})
    return specs_from_run(run, usable), early


def audit_specs(run: Run, models: Sequence[Any], specs: Sequence[Any], out: Path, settings: AuditSettings, *,
                deviations=None, probing: dict | Callable[[], dict | None] | None = None,
                failures: Sequence[dict[str, str]] = (), require_speech: bool = False, max_duration_s: float | None = None, title: str = "",
                progress: bool = True, engine: Any = None, selection: str = "") -> Audit:
    """Run the audit of `specs` with clips cut by the run's own front end (`Run.clip`), and open what it wrote.

    Each corpus clip is explained by its fold's model (`xai.audit.runner.run_audit`); `selection` says how the clips
    were picked; `probing` may be a callable that gives the probing rows once the clips are computed."""
    limits = {} if max_duration_s is None else {"max_duration_s": max_duration_s}
    load = functools.partial(run.clip, require_speech=require_speech, **limits)
    index = run_audit(models, specs, out, settings, load_features=load, deviations=deviations, probing=probing,
                      run=run, title=title, progress=progress, failures=list(failures),
                      require_speech=require_speech, engine=engine, selection=selection)
    return Audit(Path(out), index)
