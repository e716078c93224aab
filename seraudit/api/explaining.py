"""Explaining one clip with one model: every method's `Attribution`, by method name."""

from __future__ import annotations

import os
from typing import Any, Sequence

from seraudit.core.errors import SerauditError
from seraudit.xai.attribution import Attribution
from seraudit.xai.audit.runner import DEFAULT_METHODS, parse_methods
from seraudit.xai.explainers.registry import explain_clip


def explain(model: Any, clip: Any, methods: str | Sequence[str] = DEFAULT_METHODS, *, target: int | str | None = None,
            params: dict[str, dict[str, Any]] | None = None) -> dict[str, Attribution]:
    """``{method: Attribution}`` of `model` (``run.model(name)``) on `clip` (``run.clip(path)``).

    A file path is refused: only the run knows the GDS threshold its models pooled with,
    and an explanation cut with another one would explain patches the model never used.
    `target` (class index or label) defaults to the model's own prediction; `params` gives
    hyper-parameters per method, e.g. ``{"lime": {"num_samples": 500}}``.
    """
    if isinstance(clip, (str, os.PathLike)):
        raise SerauditError(f"`clip` is the file {os.fspath(clip)!r}; load it with `run.clip(path)`, which cuts it "
                            "with the run's own GDS threshold")
    names, _ = parse_methods(methods)
    attributions = explain_clip([model], clip, list(names), target=target, params=params)
    return {attribution.method: attribution for attribution in attributions}
