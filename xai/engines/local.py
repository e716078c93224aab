"""The local engine: `embed`, `predict` and the audit's clips computed in this process.

It answers the same calls as `xai.engines.ray_engine.RayEngine` (``embed_files``,
``predict_files``, ``audit_clips``), so a command or a notebook picks an engine once
and calls it the same way whichever it is.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Iterator, Sequence


class LocalEngine:
    """Computes every file or clip in this process, one after the other (a bad file is recorded, the batch goes on)."""

    def __init__(self, progress: bool = True, clip_options: dict | None = None):
        self.progress = progress
        # how clips are loaded (require_speech, max_duration_s), as the command's flags ask
        self.clip_options = {k: v for k, v in (clip_options or {}).items() if v is not None}

    def audit_clips(self, run: Any, models: Sequence[Any], settings: Any, out_dir: Any,
                    pending: Sequence[tuple[int, Any, str]], deviations: Callable[[Any], list] | None,
                    load_features: Callable[[str], Any] | None = None,
                    ) -> Iterator[tuple[int, tuple[dict | None, dict | None]]]:
        """`xai.audit.runner.run_audit`'s engine hook: ``(spec index, (record, None) or (None, failure))`` per clip."""
        from tqdm.auto import tqdm

        from seraudit.xai.audit.runner import ClipModels, compute_pending, feature_loader

        if not pending:
            return
        if load_features is None:  # the run's own front end, with the command's clip rules
            load_features = functools.partial(run.clip, **self.clip_options) if run is not None else feature_loader(None)
        with tqdm(total=len(pending), desc="audit", unit="clip", disable=not self.progress) as bar:
            computed = compute_pending(ClipModels(models, run), pending, out_dir, settings, load_features, deviations, bar)
        yield from sorted(computed.items())

    def predict_files(self, run: Any, paths: Sequence[str], models: Sequence[str] | None = None,
                      tta: int = 0, seed: int = 0, require_speech: bool = False,
                      max_duration_s: float | None = None) -> list[dict]:
        """`ensemble.inference.prediction.predict_files` in this process."""
        from seraudit.ensemble.inference.prediction import predict_files

        return predict_files(run, paths, models, progress=self.progress, tta=tta, seed=seed,
                             require_speech=require_speech, max_duration_s=max_duration_s)

    def embed_files(self, paths: Sequence[str], backbone: str, source: Any, *, seed: int = 0, batch_size: int = 128,
                    on_skip: Callable[[str, str], None] | None = None, require_speech: bool = False,
                    max_duration_s: float | None = None) -> Any:
        """`ensemble.inference.file_embeddings.embed_files` in this process."""
        from seraudit.ensemble.inference.file_embeddings import embed_files

        return embed_files(paths, backbone, source, seed=seed, batch_size=batch_size, progress=self.progress,
                           on_skip=on_skip, require_speech=require_speech, max_duration_s=max_duration_s)
