"""Verified acoustic interventions of clips with a trained run's held-out models: what the decision uses."""

from __future__ import annotations

import os
from typing import Any, Sequence

from seraudit.core.errors import SerauditError
from seraudit.xai.interventions.resynthesis import DEFAULT_PLAN, DEFAULT_STRENGTHS, FEATURES, Intervention, plan_of


def plan_for(features: Sequence[str] | None = None) -> tuple[Intervention, ...]:
    """The default plan limited to `features` (names of `FEATURES`; identity, the control, is always in it)."""
    if not features:
        return DEFAULT_PLAN
    unknown = [f for f in features if f not in DEFAULT_STRENGTHS and f != "identity"]
    if unknown:
        raise SerauditError(f"unknown intervention feature(s) {', '.join(map(repr, unknown))} in `features`; choose "
                            f"from {', '.join(f for f in FEATURES if f != 'identity')}")
    return plan_of((f, DEFAULT_STRENGTHS[f]) for f in features if f != "identity")


def intervene(run: Any, paths: Sequence[str | os.PathLike], *, out: str | os.PathLike | None = None,
              models: Sequence[str] | None = None, features: Sequence[str] | None = None,
              plan: Sequence[Intervention] | None = None, cache_dir: str | os.PathLike | None = None,
              **options: Any) -> dict[str, Any]:
    """Resynthesise each clip of `paths` with one verified change at a time and score it with `run`'s held-out models.

    `run` is a `Run` (``sa.open_run(path)``) or its folder; `models` a subset of its models (default: all);
    `features` limits the default plan (`plan` replaces it); `out` receives ``interventions.json`` and the kept
    variants' audio. Returns `seraudit.xai.interventions.stage.run_interventions`' dict; `options` are its
    other keywords (``n_boot``, ``seed``, ``log``, ``extractor``).
    """
    from seraudit.ensemble.run import Run
    from seraudit.xai.interventions.stage import run_interventions

    if isinstance(run, (str, os.PathLike)):
        run = Run.open(run)
    if not paths:
        raise SerauditError("`paths` is empty; pass the audio files to intervene on")
    chosen = list(plan) if plan is not None else plan_for(features)
    return run_interventions(run, [os.fspath(p) for p in paths], models=models, out=out, plan=chosen,
                             cache_dir=cache_dir, **options)
