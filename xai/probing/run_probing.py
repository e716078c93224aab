"""eGeMAPS probing of a trained run's backbones over the run's whole corpus, as rows for the report.

The run's corpus, clip slice, GDS setting and caches come from its provenance (``run.json``); the
backbone embeddings and eGeMAPS functionals are read from those caches (computed when
missing), so no trained model runs. Each clip's embedding pools its patches by the
package's one rule (`seraudit.ensemble.model.clip_pooling`), the same clips and patches the models
were trained on.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from seraudit.ensemble.data.embedding_cache import EmbeddingCache
from seraudit.ensemble.training.experiment import resolve_sources
from seraudit.ensemble.model.clip_pooling import pool_embeddings
from seraudit.ensemble.run import Run
from seraudit.ensemble.data.corpus_data import CorpusData, prepare_data, select_clips
from seraudit.preprocessing.corpora import read_corpus
from seraudit.preprocessing.gds import GdsSettings
from seraudit.preprocessing.egemaps_names import FUNCTIONAL_NAMES
from seraudit.xai.probing.linear_probe import AcousticProbe, embedding_table


def probe_run(run: Run, models_dir: str | None, progress: bool) -> dict[str, list[dict[str, Any]]]:
    """``{"rows": [...]}``: per backbone, emotion and eGeMAPS category, the probe's top-n size, AUCs and mean R².

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
    egemaps = pd.DataFrame(data.egemaps, index=data.table["path"].astype(str), columns=list(FUNCTIONAL_NAMES))
    probe = AcousticProbe(n_splits=min(5, len(set(data.speakers)))).fit(clip_tables(data), egemaps)
    return {"rows": report_rows(probe)}


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
