"""How a clip's voice departs from its speaker's neutral voice: robust eGeMAPS z-scores against the run's corpus.

A run query: the speaker's reference clips come from the corpus the run was
trained on (``run.json``), so an audit says "this clip is louder and higher than
this speaker usually is", not "than people in general".
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Sequence

from seraudit.ensemble.run import Run
from seraudit.xai.audit.folder import plain
from seraudit.xai.audit.clip_identity import ClipSpec

#: The eGeMAPS cache file in a run's cache folder (the one `ensemble.heads.egemaps_baseline.egemaps_matrix` fills).
EGEMAPS_CACHE_FILE = "egemaps-functionals.csv"


def egemaps_deviations(
    run: Run, specs: Sequence[ClipSpec], *, top_k: int = 8, progress: bool = False
) -> dict[str, list[dict[str, Any]]]:
    """Per clip (by absolute path), the eGeMAPS functionals furthest from the same speaker's neutral clips.

    Robust z-scores of `preprocessing.egemaps_deviations.speaker_deviations`: the clip is
    never in its own reference, the corpus-wide scale floor comes from the run's clips (its
    ``max_clips`` slice when it had one), and a clip whose speaker has too few other clips
    gets one row with ``status = "reference too small"`` instead of numbers. Features are
    read from the eGeMAPS cache the run's training filled (extracted in a worker process
    otherwise). Clips with no known speaker get no rows.
    """
    from seraudit.preprocessing.corpora import read_corpus
    from seraudit.preprocessing.egemaps import ERROR_COLUMN, extract_egemaps
    from seraudit.preprocessing.egemaps_deviations import speaker_deviations

    wanted = [s for s in specs if s.speaker]
    if not wanted:
        return {}
    info = run.provenance
    settings = info.get("settings") or {}
    table = read_corpus(info.get("corpus"), info.get("data"))
    if settings.get("max_clips"):  # the run's own slice: the corpus-wide scale comes from the clips it trained on
        from seraudit.ensemble.data.corpus_data import select_clips

        table = select_clips(table, settings["max_clips"], settings.get("seed", 0))
    speakers = {s.speaker for s in wanted}
    asked = {os.path.abspath(s.path) for s in wanted}
    paths = sorted(set(table["path"].astype(str)) | asked)
    cache_dir = info.get("cache", {}).get("dir")
    cache = Path(cache_dir) / EGEMAPS_CACHE_FILE if cache_dir else None  # the file training filled
    features = extract_egemaps(paths, progress=progress, cache=cache)
    features = features[features[ERROR_COLUMN].isna()].drop(columns=[ERROR_COLUMN])
    table = table[table["path"].astype(str).isin(features.index)]
    rows = speaker_deviations(
        features, paths=table["path"].astype(str), labels=table["label"], speakers=table["speaker"], top_k=top_k
    )
    rows = rows[rows["path"].isin(asked) & rows["speaker"].isin(speakers)]
    out: dict[str, list[dict[str, Any]]] = {}
    for record in rows.to_dict("records"):
        record = {k: plain(v) for k, v in record.items()}
        record["rank"] = int(record["rank"])
        out.setdefault(str(record["path"]), []).append(record)
    return {os.path.abspath(s.path): out.get(os.path.abspath(s.path), []) for s in wanted}


def deviations_lookup(
    run: Run, specs: Sequence[ClipSpec], *, progress: bool = False
) -> Callable[[ClipSpec], list[dict[str, Any]]]:
    """The `deviations` callable `audit.run_audit` takes: a clip's rows of `egemaps_deviations`, computed once for `specs`.

    A clip outside `specs`, or without a known speaker, gets no rows.
    """
    table = egemaps_deviations(run, specs, progress=progress)
    return lambda spec: table.get(os.path.abspath(spec.path), [])
