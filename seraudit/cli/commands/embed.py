"""`seraudit embed`: per-patch backbone embeddings of audio files, with patch times and the GDS keep-mask, in one .npz.

A file that cannot be used (unreadable, silent, too short, ...) does not stop
the batch: it is named on stderr with the reason and the fix, listed in the
.npz (``skipped_paths`` / ``skipped_reasons``), and the command exits with
status 1 so scripts notice. When no file can be used, nothing is written and
the command stops with the first file's error (status 2).
"""

from __future__ import annotations

from seraudit.cli.options import add_quiet, add_weights_options
from seraudit.core.constants import BACKBONES

EXIT_SOME_SKIPPED = 1


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "embed",
        help="per-patch YAMNet or VGGish embeddings of audio files (.npz)",
        description="Per-patch embeddings [N, D] with clip index, patch start/end seconds and the GDS keep-mask. "
        "Unusable files are skipped, named on stderr and listed in the .npz; the exit status is then 1.",
    )
    p.add_argument("audio", metavar="AUDIO", nargs="+", help="audio files (wav, flac)")
    p.add_argument("--backbone", choices=BACKBONES, default="yamnet")
    add_weights_options(p)
    p.add_argument("--seed", type=int, default=0, help="seed of untrained weights")
    p.add_argument("--batch-size", type=int, default=128)
    add_quiet(p)
    p.add_argument("--out", required=True, metavar="FILE.npz")
    p.set_defaults(func=run)


def read_clips(paths: list[str], progress: bool = True):
    """Features of every usable file, and (path, reason) of each skipped one; raises when none is usable."""
    import sys

    from tqdm.auto import tqdm

    from seraudit.preprocessing.pipeline import clip_features
    from seraudit.core.errors import AudioError

    clips, used, skipped = [], [], []
    for path in tqdm(paths, desc="log-mel patches + GDS", unit="clip", disable=not progress):
        try:
            clips.append(clip_features(path))
            used.append(str(path))
        except AudioError as error:
            skipped.append((str(path), str(error)))
            print(f"seraudit embed: skipped {path}: {error}", file=sys.stderr)
    if not clips:
        raise AudioError(f"no usable audio among {len(paths)} file(s); first: {skipped[0][1]}")
    return clips, used, skipped


def run(args) -> int:
    import numpy as np

    from seraudit.ensemble.embedding_cache import build_embedder, embed_patches
    from seraudit.ensemble.weights import resolve_weights
    from seraudit.core.io import atomic_path

    source = resolve_weights(args.backbone, models_dir=args.models_dir,
                             allow_untrained=args.backbone in args.allow_untrained, download=not args.no_download)
    clips, used, skipped = read_clips(args.audio, progress=not args.quiet)
    data = np.concatenate([c.patches.data for c in clips]).astype(np.float32)
    model = build_embedder(args.backbone, source, args.seed)
    emb = embed_patches(model, data, batch_size=args.batch_size, progress=not args.quiet, desc=f"{args.backbone} embeddings")
    out = args.out if str(args.out).endswith(".npz") else f"{args.out}.npz"
    with atomic_path(out) as tmp, open(tmp, "wb") as f:
        np.savez(
            f,
            embeddings=emb,
            clip_index=np.concatenate([np.full(len(c.patches.data), i) for i, c in enumerate(clips)]),
            paths=np.array(used),
            start_s=np.concatenate([c.patches.start_s for c in clips]),
            end_s=np.concatenate([c.patches.end_s for c in clips]),
            gds_keep=np.concatenate([c.selection.keep for c in clips]),
            gds_correlation=np.concatenate([c.selection.correlation for c in clips]),
            gds_threshold=np.array(clips[0].selection.threshold),
            skipped_paths=np.array([p for p, _ in skipped], dtype=str),
            skipped_reasons=np.array([r for _, r in skipped], dtype=str),
            backbone=np.array(args.backbone),
            weights=np.array(source.describe()),
            untrained=np.array(not source.pretrained),
        )
    print(f"{len(emb)} patch embeddings [{emb.shape[1]}] of {len(clips)} clip(s) ({source.describe()}) -> {out}")
    if skipped:
        print(f"{len(skipped)} file(s) skipped (named above)")
        return EXIT_SOME_SKIPPED
    return 0
