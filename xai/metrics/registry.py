"""The registered metrics: what the audit computes, summarises and checks, in registration order.

The members (deletion, insertion, model randomisation, method agreement, mass on unheard and on non-speech frames) come
first; a metric registered later (``register_metric(MyMetric)``) joins every audit,
its summary, its checks and the report with no other edit. Registration is per
process: engines that audit in other processes (Ray) see the members only.
"""

from __future__ import annotations

from typing import Any

from seraudit.core.errors import SerauditError
from seraudit.xai.metrics.base import Metric

_REGISTRY: dict[str, type[Metric]] = {}
_MEMBERS_LOADED = False


def _load_members() -> None:
    """Register the members once, before any other metric (so they keep their place in every listing)."""
    global _MEMBERS_LOADED
    if _MEMBERS_LOADED:
        return
    _MEMBERS_LOADED = True
    from seraudit.xai.metrics.agreement import MethodAgreement
    from seraudit.xai.metrics.faithfulness import Deletion, Insertion
    from seraudit.xai.metrics.heard import NonSpeechMass, UnheardMass
    from seraudit.xai.metrics.sanity import ModelRandomisation

    for member in (Deletion, Insertion, ModelRandomisation, MethodAgreement, UnheardMass, NonSpeechMass):
        _REGISTRY.setdefault(member.id, member)


def register_metric(metric: type[Metric]) -> type[Metric]:
    """Add a metric class to every audit (usable as a class decorator); a taken id is refused."""
    _load_members()
    if not (isinstance(metric, type) and issubclass(metric, Metric)) or not metric.id or not metric.name:
        raise SerauditError(f"{metric!r} is not a Metric subclass with an id and a name")
    if metric.id in _REGISTRY and _REGISTRY[metric.id] is not metric:
        raise SerauditError(f"a metric with id {metric.id!r} is already registered ({_REGISTRY[metric.id].__name__})")
    _REGISTRY[metric.id] = metric
    return metric


def unregister_metric(metric_id: str) -> None:
    """Remove a metric added with `register_metric` (tests, notebooks trying a variant)."""
    _load_members()
    _REGISTRY.pop(metric_id, None)


def registered_metrics() -> dict[str, type[Metric]]:
    """Metric id -> class, in registration order."""
    _load_members()
    return dict(_REGISTRY)


def build_metrics(settings: Any) -> list[Metric]:
    """Every registered metric, configured by an audit's settings."""
    return [cls.from_settings(settings) for cls in registered_metrics().values()]
