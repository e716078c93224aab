"""eGeMAPS probing of a trained run's backbones over the run's whole corpus, against controls, as rows for the report.

The run's corpus, clip slice, GDS setting and caches come from its provenance (``run.json``); the
backbone embeddings and eGeMAPS functionals are read from those caches (computed when
missing), so no trained model runs. Each clip's embedding pools its patches by the
package's one rule (`seraudit.ensemble.model.clip_pooling`), the same clips and patches the models
were trained on.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd

from seraudit.ensemble.data.embedding_cache import EmbeddingCache
from seraudit.ensemble.training.experiment import resolve_sources
from seraudit.ensemble.model.clip_pooling import pool_embeddings
from seraudit.ensemble.run import Run
from seraudit.ensemble.data.corpus_data import CorpusData, prepare_data, select_clips
from seraudit.preprocessing.corpora import read_corpus
from seraudit.preprocessing.gds import GdsSettings
from seraudit.preprocessing.egemaps_names import FUNCTIONAL_NAMES
from seraudit.ensemble.model.spec import BACKBONES
from seraudit.xai.probing.controls import probe_controls
from seraudit.xai.probing.linear_probe import AcousticProbe, embedding_table

#: What the report calls a backbone with random weights: its probe is a control.
RANDOM = "random (control)"


def probe_run(run: Run, models_dir: str | None, progress: bool) -> dict[str, Any]:
    """``{"rows", "controls", "seconds", "random_weights"}`` of `probe_corpus` for the run's corpus, from the caches.

    Raises ValueError when the corpus cannot be probed (e.g. too few speakers per emotion).
    """
    info = run.provenance
    settings = info["settings"]
    table = select_clips(read_corpus(settings["corpus"], settings["data"]), settings.get("max_clips"), settings["seed"])
    sources = resolve_sources(["ensemble"], models_dir, tuple(settings.get("allow_untrained", [])),
                              weights=settings.get("weights"))
    cache = EmbeddingCache(info.get("cache", {}).get("dir"), progress=progress)
    data = prepare_data(table, sorted(sources), sources, GdsSettings(**settings.get("gds", {})), cache,
                        settings["seed"], True)
    return probe_corpus(data, sources, cache, settings["seed"])


def probe_run_dir(run_dir: str, models_dir: str | None) -> tuple[dict[str, Any] | None, str, float]:
    """`probe_run` of the run in `run_dir`, for a worker process: ``(rows or None, why it was skipped, seconds)``.

    A corpus that cannot be probed (ValueError) gives None and the reason; any other error is raised.
    """
    started = time.perf_counter()
    try:
        return probe_run(Run.open(run_dir), models_dir, progress=False), "", time.perf_counter() - started
    except ValueError as error:  # e.g. too few speakers per emotion in a quick run: the audit goes on without it
        return None, str(error), time.perf_counter() - started


def probe_corpus(data: CorpusData, sources: dict[str, Any], cache: EmbeddingCache, seed: int) -> dict[str, Any]:
    """Probe every backbone of `data` for eGeMAPS, against controls (`xai.probing.controls`).

    ``rows``: per backbone, emotion and eGeMAPS category, the top-n size, AUCs and mean R²
    (``weights`` says "random (control)" for a backbone without pretrained weights: its
    probe is a control, not a finding). ``controls``: per backbone and group, R² against
    the same backbone with random weights (seed `seed`, one extra embedding pass, cached)
    and against label-permuted refits, with intervals. ``seconds``: where the time went.
    """
    clock = {"random-weight embeddings": 0.0, "control fits": 0.0}
    start = time.perf_counter()
    egemaps = pd.DataFrame(data.egemaps, index=data.table["path"].astype(str), columns=list(FUNCTIONAL_NAMES))
    n_splits = min(5, len(set(data.speakers)))
    tables = clip_tables(data)
    probe = AcousticProbe(n_splits=n_splits).fit(tables, egemaps)
    clock["probes per emotion"] = time.perf_counter() - start
    random_weights = [b for b in tables if not getattr(sources.get(b), "pretrained", False)]
    controls = []
    paths = data.table["path"].astype(str).tolist()
    for branch, emb in tables.items():
        control = None
        if branch not in random_weights:
            t0 = time.perf_counter()
            taps = cache.taps(paths, branch, None, seed)  # the same backbone, seeded random weights
            control = pool_embeddings(taps[BACKBONES[branch].embedding_tap], data.patches.clip_index, data.keep,
                                      len(data.table))
            clock["random-weight embeddings"] += time.perf_counter() - t0
        t0 = time.perf_counter()
        X = emb.drop(columns=["path", "label", "speaker"]).to_numpy(np.float64)
        table = probe_controls(X, data.egemaps, data.speakers, list(FUNCTIONAL_NAMES), control=control,
                               n_splits=n_splits, seed=seed)
        clock["control fits"] += time.perf_counter() - t0
        for record in table.to_dict("records"):
            controls.append({"backbone": branch, "weights": RANDOM if branch in random_weights else "pretrained",
                             **{k: _plain(v) for k, v in record.items()}})
    clock["total"] = time.perf_counter() - start
    rows = report_rows(probe)
    for row in rows:
        row["weights"] = RANDOM if row["backbone"] in random_weights else "pretrained"
    return {"rows": rows, "controls": controls, "random_weights": random_weights,
            "seconds": {k: round(v, 2) for k, v in clock.items()}}


def _plain(value: Any) -> Any:
    value = value.item() if hasattr(value, "item") else value
    return None if isinstance(value, float) and not np.isfinite(value) else value


def clip_tables(data: CorpusData) -> dict[str, pd.DataFrame]:
    """Per backbone, the `embedding_table` of every clip's embedding pooled over its GDS-kept patches."""
    n_clips = len(data.table)
    return {
        branch: embedding_table(
            pool_embeddings(embeddings, data.patches.clip_index, data.keep, n_clips),
            data.table["path"], data.table["label"], data.speakers,
        )
        for branch, embeddings in data.embeddings.items()
    }


def report_rows(probe: AcousticProbe) -> list[dict[str, Any]]:
    """The report's probing rows of a probe fitted per branch (plain Python values)."""
    categories = probe.categories_.merge(
        probe.selection_[["branch", "emotion", "n_top", "auc_top", "auc_all"]], on=["branch", "emotion"], how="left"
    )
    rows = [
        {"backbone": r["branch"], "emotion": r["emotion"], "category": r["category"], "top dims": r["n_top"],
         "AUC top": r["auc_top"], "AUC all": r["auc_all"], "R² top": r["r2_top"], "R² all": r["r2_all"]}
        for r in categories.to_dict("records")
    ]
    return [{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()} for row in rows]
