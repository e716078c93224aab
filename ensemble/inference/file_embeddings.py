"""Per-patch backbone embeddings of a list of audio files, with patch times and the GDS keep-mask, saved as one .npz.

This is what `seraudit embed` hands a user for their own analyses. A file that
cannot be used (unreadable, silent, too short, ...) does not stop the batch: it
is reported through `on_skip` and listed among the skipped files, with the reason.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from seraudit.core.errors import AudioError
from seraudit.core.io import atomic_path
from seraudit.ensemble.data.embedding_cache import EMBED_BATCH, build_embedder, embed_patches

OnSkip = Callable[[str, str], None]  # (path, reason) of a file that is skipped


def read_clips(paths: Sequence[str], progress: bool = True, on_skip: OnSkip | None = None,
               **load: Any) -> tuple[list, list[str], list[tuple[str, str]]]:
    """Features of every usable file, the paths used, and (path, reason) of each skipped one.

    `load` goes to `clip_features` (``require_speech``, ``max_duration_s``; None means the default).

    Raises an AudioError naming the first file's problem when no file is usable.
    """
    from tqdm.auto import tqdm

    from seraudit.preprocessing.pipeline import clip_features

    clips, used, skipped = [], [], []
    for path in tqdm(paths, desc="log-mel patches + GDS", unit="clip", disable=not progress):
        try:
            clips.append(clip_features(path, **{k: v for k, v in load.items() if v is not None}))
            used.append(str(path))
        except AudioError as error:
            skipped.append((str(path), str(error)))
            if on_skip is not None:
                on_skip(str(path), str(error))
    if not clips:
        raise AudioError(f"no usable audio among {len(paths)} file(s); first: {skipped[0][1]}")
    return clips, used, skipped


@dataclass
class FileEmbeddings:
    """The embeddings ``[N, D]`` of every patch of the usable files, the clips they come from and the files skipped."""

    backbone: str
    source: Any  # the `weights.WeightsSource` the embedder was loaded from
    embeddings: np.ndarray
    clips: list  # `preprocessing.pipeline.ClipFeatures` of each used file
    paths: list[str]
    skipped: list[tuple[str, str]]

    def save(self, out: str | os.PathLike) -> str:
        """Write the .npz atomically (``.npz`` is appended when `out` lacks it); returns the path written."""
        out = os.fspath(out)
        if not out.endswith(".npz"):
            out = f"{out}.npz"
        clips = self.clips
        with atomic_path(out) as tmp, open(tmp, "wb") as f:
            np.savez(
                f,
                embeddings=self.embeddings,
                clip_index=np.concatenate([np.full(len(c.patches.data), i) for i, c in enumerate(clips)]),
                paths=np.array(self.paths),
                start_s=np.concatenate([c.patches.start_s for c in clips]),
                end_s=np.concatenate([c.patches.end_s for c in clips]),
                gds_keep=np.concatenate([c.selection.keep for c in clips]),
                gds_correlation=np.concatenate([c.selection.correlation for c in clips]),
                gds_threshold=np.array(clips[0].selection.threshold),
                skipped_paths=np.array([p for p, _ in self.skipped], dtype=str),
                skipped_reasons=np.array([r for _, r in self.skipped], dtype=str),
                backbone=np.array(self.backbone),
                weights=np.array(self.source.describe()),
                untrained=np.array(not self.source.pretrained),
            )
        return out


def embed_files(
    paths: Sequence[str],
    backbone: str,
    source,
    *,
    seed: int = 0,
    batch_size: int = EMBED_BATCH,
    progress: bool = True,
    on_skip: OnSkip | None = None,
    require_speech: bool = False,
    max_duration_s: float | None = None,
) -> FileEmbeddings:
    """Embed every patch of the usable `paths` with `backbone` loaded from `source` (seeded random when untrained)."""
    clips, used, skipped = read_clips(paths, progress=progress, on_skip=on_skip, require_speech=require_speech,
                                      max_duration_s=max_duration_s)
    data = np.concatenate([c.patches.data for c in clips]).astype(np.float32)
    model = build_embedder(backbone, source, seed)
    embeddings = embed_patches(model, data, batch_size=batch_size, progress=progress, desc=f"{backbone} embeddings")
    return FileEmbeddings(backbone, source, embeddings, clips, used, skipped)
