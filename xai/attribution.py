"""The one attribution type every explainer returns and every renderer and metric consumes."""

from __future__ import annotations

import json
import os
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from seraudit.core.constants import NUM_MEL_BANDS, PATCH_BANDS, PATCH_FRAMES, STFT_HOP_SECONDS
from seraudit.core.errors import RunError
from seraudit.core.io import atomic_path, json_default

_FORMAT_VERSION = 1


@dataclass
class Attribution:
    """How much each time-frequency cell of one clip drove one model towards one class.

    Methods differ in how they score cells, but all of them land on the same grid
    (the clip's log-mel, 10 ms frames x 64 mel bands), so any renderer or
    faithfulness metric works with any method and any model.

    Attributes
    ----------
    method : str
        The explainer's registry name (a key of ``xai.explainers.registry.EXPLAINERS``).
    model : str
        ``TrainedModel.name`` of the model explained (``"ensemble"``, ``"yamnet"``, ``"vggish"``).
    target : int
        Index of the class explained, into the model's labels.
    target_label : str
        Name of that class.
    clip_map : ndarray, float32, ``[n_frames, 64]``
        Attribution on the clip's log-mel grid; overlapping patches are merged.
        Grad-CAM maps are non-negative and scaled to a maximum of 1 per clip;
        LIME and occlusion maps are signed (negative cells argue against the target).
    patch_maps : ndarray, float32, ``[N, 96, 64]``
        The same attribution cut into the model's input patches.
    patch_start_s, patch_end_s : ndarray, float64, ``[N]``
        Time span of each patch in the clip, in seconds.
    params : dict
        The explainer's hyper-parameters and method details (JSON-serialisable).
    seconds : float
        Wall time the explainer took for this clip and model.
    frame_hop_s : float
        Seconds between two rows of ``clip_map``.
    branch_maps : dict[str, ndarray]
        Per-branch clip maps ``[n_frames, 64]`` when the method explains branches
        separately (Grad-CAM on an ensemble); empty otherwise.
    clip_path : str
        The audio file explained, when known (renderers use it to find the sound).
    """

    method: str
    model: str
    target: int
    target_label: str
    clip_map: np.ndarray
    patch_maps: np.ndarray
    patch_start_s: np.ndarray
    patch_end_s: np.ndarray
    params: dict[str, Any]
    seconds: float
    frame_hop_s: float = STFT_HOP_SECONDS
    branch_maps: dict[str, np.ndarray] = field(default_factory=dict)
    clip_path: str = ""

    def __post_init__(self) -> None:
        self.clip_map = np.asarray(self.clip_map, dtype=np.float32)
        self.patch_maps = np.asarray(self.patch_maps, dtype=np.float32)
        self.patch_start_s = np.asarray(self.patch_start_s, dtype=np.float64).reshape(-1)
        self.patch_end_s = np.asarray(self.patch_end_s, dtype=np.float64).reshape(-1)
        self.branch_maps = {k: np.asarray(v, dtype=np.float32) for k, v in self.branch_maps.items()}
        self.target = int(self.target)
        self.seconds = float(self.seconds)
        self.frame_hop_s = float(self.frame_hop_s)
        if self.clip_map.ndim != 2 or self.clip_map.shape[1] != NUM_MEL_BANDS:
            raise ValueError(f"clip_map must be [n_frames, {NUM_MEL_BANDS}], got {self.clip_map.shape}")
        if self.patch_maps.ndim != 3 or self.patch_maps.shape[1:] != (PATCH_FRAMES, PATCH_BANDS):
            raise ValueError(
                f"patch_maps must be [N, {PATCH_FRAMES}, {PATCH_BANDS}], got {self.patch_maps.shape}"
            )
        n = self.patch_maps.shape[0]
        if self.patch_start_s.shape != (n,) or self.patch_end_s.shape != (n,):
            raise ValueError(
                f"patch_start_s/patch_end_s must have one entry per patch ({n}), got "
                f"{self.patch_start_s.shape} and {self.patch_end_s.shape}"
            )
        for name, m in self.branch_maps.items():
            if m.shape != self.clip_map.shape:
                raise ValueError(f"branch map {name!r} has shape {m.shape}, expected {self.clip_map.shape}")

    @property
    def n_frames(self) -> int:
        return int(self.clip_map.shape[0])

    @property
    def duration_s(self) -> float:
        """Length of the explained log-mel grid in seconds."""
        return self.n_frames * self.frame_hop_s

    def frame_times(self) -> np.ndarray:
        """Start time in seconds of each row of ``clip_map``."""
        return np.arange(self.n_frames) * self.frame_hop_s

    def time_profile(self) -> np.ndarray:
        """Attribution per frame ``[n_frames]``: the mean over the 64 mel bands.

        Signed like ``clip_map``; this is what time-only renderings (audio masks,
        curves over the waveform) follow.
        """
        return self.clip_map.mean(axis=1)

    def _repr_html_(self) -> str:
        """In Jupyter: the map over time and mel bands (a small inline PNG) and a player of the clip when its file is known."""
        from matplotlib.figure import Figure

        from seraudit.core.notebook import audio_player, figure_img

        figure = Figure(figsize=(5.0, 2.0), dpi=72)
        ax = figure.add_subplot()
        signed = bool((self.clip_map < 0).any())
        limit = float(np.abs(self.clip_map).max()) or 1.0
        ax.imshow(self.clip_map.T, origin="lower", aspect="auto", extent=(0.0, self.duration_s, 0, NUM_MEL_BANDS),
                  cmap="RdBu_r" if signed else "magma", vmin=-limit if signed else 0.0, vmax=limit)
        ax.set(xlabel="time (s)", ylabel="mel band", title=f"{self.method} · {self.model} → {self.target_label}")
        caption = (f"<div>{self.method} of {self.model} for <b>{self.target_label}</b> "
                   f"({self.n_frames} frames, {self.seconds:.2f} s to compute)</div>")
        return caption + figure_img(figure, alt=f"{self.method} map") + audio_player(self.clip_path)

    # ------------------------------------------------------------------ files
    def save(self, path: str | os.PathLike) -> Path:
        """Write the attribution to one ``.npz`` file (atomically) and return its path."""
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")
        meta = {
            "format_version": _FORMAT_VERSION,
            "method": self.method,
            "model": self.model,
            "target": self.target,
            "target_label": self.target_label,
            "params": self.params,
            "seconds": self.seconds,
            "frame_hop_s": self.frame_hop_s,
            "clip_path": self.clip_path,
            "branches": sorted(self.branch_maps),
        }
        arrays = {
            "clip_map": self.clip_map,
            "patch_maps": self.patch_maps,
            "patch_start_s": self.patch_start_s,
            "patch_end_s": self.patch_end_s,
        }
        for name, m in self.branch_maps.items():
            arrays[f"branch__{name}"] = m
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, meta=np.array(json.dumps(meta, default=json_default)), **arrays)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Attribution":
        """Read an attribution written by ``save``."""
        path = Path(path)
        if not path.is_file():
            raise RunError(f"attribution file {path} does not exist; check the path or explain the clip again")
        try:
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                arrays = {k: data[k] for k in data.files if k != "meta"}
        except (OSError, ValueError, KeyError) as exc:
            raise RunError(
                f"attribution file {path} is not a readable SERAudit attribution ({exc}); "
                "delete it and explain the clip again"
            ) from exc
        if meta.get("format_version") != _FORMAT_VERSION:
            raise RunError(
                f"attribution file {path} has format version {meta.get('format_version')!r}, "
                f"this version reads {_FORMAT_VERSION}; explain the clip again"
            )
        return cls(
            method=meta["method"],
            model=meta["model"],
            target=meta["target"],
            target_label=meta["target_label"],
            clip_map=arrays["clip_map"],
            patch_maps=arrays["patch_maps"],
            patch_start_s=arrays["patch_start_s"],
            patch_end_s=arrays["patch_end_s"],
            params=meta["params"],
            seconds=meta["seconds"],
            frame_hop_s=meta["frame_hop_s"],
            branch_maps={b: arrays[f"branch__{b}"] for b in meta.get("branches", [])},
            clip_path=meta.get("clip_path", ""),
        )


class Explainer(ABC):
    """One attribution method: hyper-parameters in ``__init__``, one ``explain`` call per model and clip.

    Every method explains every patch of the clip (the whole utterance) and
    returns an ``Attribution`` on the clip's log-mel grid, so methods are
    interchangeable for renderers, metrics and reports.
    """

    method: str = ""

    def params(self) -> dict[str, Any]:
        """The hyper-parameters this explainer was built with (recorded in every attribution)."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    @abstractmethod
    def explain(self, model: Any, clip: Any, target: int | str | None = None) -> Attribution:
        """Attribute `model`'s clip-level score for `target` (default: its predicted class) to the cells of `clip`."""

    def _attribution(
        self,
        model: Any,
        clip: Any,
        target: int,
        clip_map: np.ndarray,
        patch_maps: np.ndarray,
        details: dict[str, Any],
        started: float,
        branch_maps: dict[str, np.ndarray] | None = None,
    ) -> Attribution:
        """The result every method returns: its maps, the clip's patch times, its settings and runtime.

        Every map passes `xai.explainers.heard.restrict_to_heard` here, the one place the rule lives:
        zero on frames no GDS-kept patch covers (the model never heard them).
        """
        from seraudit.xai.explainers.heard import restrict_to_heard

        clip_map, patch_maps, branch_maps, heard = restrict_to_heard(clip, clip_map, patch_maps, branch_maps)
        return Attribution(
            method=self.method,
            model=model.name,
            target=target,
            target_label=model.labels[target],
            clip_map=clip_map,
            patch_maps=patch_maps,
            patch_start_s=clip.patches.start_s,
            patch_end_s=clip.patches.end_s,
            params={**self.params(), **details, "heard": heard},
            seconds=time.perf_counter() - started,
            branch_maps=branch_maps,
            clip_path=clip_path_of(clip),
        )

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"


def clip_path_of(clip: Any) -> str:
    """The audio file a ClipFeatures came from, when it records one."""
    for owner in (clip, getattr(clip, "audio", None)):
        path = getattr(owner, "path", None)
        if path:
            return os.fspath(path)
    return ""

