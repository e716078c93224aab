"""Runs attribution methods x models over a clip: the method registry and the one entry point callers use."""

from __future__ import annotations

from typing import Any

from seraudit.core.errors import SerauditError
from seraudit.xai.attribution import Attribution, Explainer
from seraudit.xai.explainers.gradcam import GradCAM, GradCAMPlusPlus, sharing_gradient_passes
from seraudit.xai.explainers.lime_explainer import LimeExplainer, LimeTimeExplainer
from seraudit.xai.explainers.occlusion import OcclusionExplainer
from seraudit.xai.explainers.perturbation import resolve_target
from seraudit.xai.explainers.pooling_attention import PoolingAttention

EXPLAINERS: dict[str, type[Explainer]] = {
    "gradcam": GradCAM,
    "gradcam++": GradCAMPlusPlus,
    "lime": LimeExplainer,
    "lime-time": LimeTimeExplainer,
    "occlusion": OcclusionExplainer,
    "attention": PoolingAttention,  # the model's own pooling weights (see xai.explainers.pooling_attention)
}


def with_pooling_attention(methods, models) -> tuple[str, ...]:
    """`methods`, plus ``"attention"`` when a model pools with a learned attention (its own account of where it
    listened is drawn beside the other methods' maps)."""
    methods = tuple(methods)
    if "attention" not in methods and any(getattr(m, "attention_layers", None) for m in models):
        methods += ("attention",)
    return methods


def make_explainer(method: str | Explainer, **params: Any) -> Explainer:
    """An explainer by registry name (hyper-parameters as keywords), or the given instance unchanged."""
    if isinstance(method, Explainer):
        return method
    if method not in EXPLAINERS:
        raise SerauditError(
            f"unknown explanation method {method!r}; choose from {', '.join(EXPLAINERS)}"
        )
    return EXPLAINERS[method](**params)


def explain_clip(
    models: list[Any],
    clip: Any,
    methods: list[str | Explainer],
    target: int | str | None = None,
    params: dict[str, dict[str, Any]] | None = None,
) -> list[Attribution]:
    """Explain one clip with every method for every model; returns attributions model-major, method-minor.

    Parameters
    ----------
    models : list of TrainedModel
    clip : ClipFeatures
    methods : list of str or Explainer
        Registry names (``EXPLAINERS``) or configured explainer instances.
    target : int, str or None
        Class index or label explained for every model; None explains each
        model's own clip-level prediction.
    params : dict, optional
        Hyper-parameters per method name, e.g. ``{"lime": {"num_samples": 500}}``.
    """
    params = params or {}
    explainers = [make_explainer(m, **params.get(m, {})) if isinstance(m, str) else m for m in methods]
    attributions = []
    for model in models:
        model_target = resolve_target(model, clip, target)  # predicted once, shared by every method
        with sharing_gradient_passes():  # Grad-CAM and Grad-CAM++ of one model: one gradient pass
            attributions.extend(explainer.explain(model, clip, model_target) for explainer in explainers)
    return attributions
