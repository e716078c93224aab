"""What a run's heads read, per corpus clip: the pooled layer features of its models, from the run's caches.

A head reads, for each branch, the layers its ``config.json`` names (``taps``; the published
embedding when none), each averaged over time and frequency per patch and then over the
clip's GDS-kept patches (`CorpusData.clip_features`: the rule training used; mean and
standard deviation for a model that pools statistics in its graph). A fused model reads its
branches' features side by side, so its features are their concatenation. The corpus, clip
slice, GDS setting and embedding cache come from the run's ``run.json``, as
`xai.probing.run_probing` reads them: the cached taps are read when the run's cache holds
them (computed and cached when it does not). The layers are the final model's; each fold
chose its own, which the probes here do not follow (they ask what the chosen layers encode).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import pandas as pd

from seraudit.core.errors import RunError


@dataclass
class RunFeatures:
    """A run's corpus clips and, per model, the features its heads read ``[n_clips, D]``."""

    table: pd.DataFrame  # path, label, speaker (and text, gender, ... where the corpus has them), one row per clip
    labels: list[str]
    y: np.ndarray  # [n_clips] label ids
    speakers: np.ndarray  # [n_clips] str, as the folds name them
    features: dict[str, np.ndarray]  # model -> [n_clips, D]
    taps: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # model -> branch -> layers read

    def texts(self) -> np.ndarray | None:
        """Each clip's lexical code (the corpus's sentence or word id), or None when the corpus records none."""
        if "text" not in self.table or self.table["text"].isna().all():
            return None
        return self.table["text"].astype(object).where(self.table["text"].notna(), None).to_numpy()


def corpus_table(run: Any) -> pd.DataFrame:
    """The run's corpus clip table (``run.json`` settings: corpus, data, clip slice and seed), as training read it."""
    from seraudit.ensemble.data.corpus_data import select_clips
    from seraudit.preprocessing.corpora import read_corpus

    settings = run.settings
    if not settings.get("corpus") or not settings.get("data"):
        raise RunError(f"{run.path} records no corpus in run.json; retrain it to audit what its features give away")
    table = read_corpus(settings["corpus"], settings["data"])
    return select_clips(table, settings.get("max_clips"), settings.get("seed", 0))


def head_features(data: Any, config: dict[str, Any]) -> tuple[np.ndarray, dict[str, list[str]]]:
    """The features ``[n_clips, D]`` the heads of a saved model (its ``config.json``) read from `data` (a `CorpusData`),
    and the layers they come from (branch -> layers)."""
    from seraudit.ensemble.model.spec import ModelSpec

    spec = ModelSpec.from_config(config)
    taps = {b: spec.taps_of(b) for b in spec.branches}
    clips = np.arange(len(data.table))
    x = data.clip_features(spec.branches, taps, clips, stats=spec.pools_in_graph)
    return np.asarray(x, np.float64), {b: list(t) for b, t in taps.items()}


def run_features(run: Any, models: Sequence[str], *, models_dir: str | None = None,
                 progress: bool = False) -> RunFeatures:
    """`RunFeatures` of the run's corpus for `models` (names of the run's neural models), read from its caches."""
    from seraudit.ensemble.data.corpus_data import prepare_data
    from seraudit.ensemble.data.embedding_cache import EmbeddingCache
    from seraudit.ensemble.model.spec import ModelSpec
    from seraudit.ensemble.training.experiment import resolve_sources
    from seraudit.preprocessing.gds import GdsSettings

    configs = {}
    for name in models:
        config = run.model_config(name)
        if config is None:
            raise RunError(f"{run.path} holds no model {name!r} (it holds: {', '.join(run.model_names) or 'none'}); "
                           "pass some of those")
        configs[name] = config
    settings = run.settings
    backbones = sorted({b for c in configs.values() for b in ModelSpec.from_config(c).branches})
    sources = resolve_sources(list(configs), models_dir, tuple(settings.get("allow_untrained", [])),
                              weights=settings.get("weights"))
    cache = EmbeddingCache((run.provenance.get("cache") or {}).get("dir"), progress=progress)
    data = prepare_data(corpus_table(run), backbones, sources, GdsSettings(**settings.get("gds", {})), cache,
                        settings.get("seed", 0), False, labels=[str(x) for x in run.results.get("labels", [])] or None)
    features, taps = {}, {}
    for name, config in configs.items():
        features[name], taps[name] = head_features(data, config)
    return RunFeatures(data.table, list(data.labels), np.asarray(data.y), np.asarray(data.speakers).astype(str),
                       features, taps)
