"""`seraudit embed`: per-patch backbone embeddings of audio files, with patch times and the GDS keep-mask, in one .npz."""

from __future__ import annotations


def add_parser(subparsers) -> None:
    p = subparsers.add_parser("embed", help="per-patch YAMNet or VGGish embeddings of audio files (.npz)")
    p.add_argument("audio", metavar="AUDIO", nargs="+", help="audio files (wav, flac)")
    p.add_argument("--backbone", choices=("yamnet", "vggish"), default="yamnet")
    p.add_argument("--models-dir", default=None, help="folder with backbone weights laid out like ../shared/models")
    p.add_argument("--allow-untrained", action="store_true", help="use seeded random weights when no weights are found")
    p.add_argument("--seed", type=int, default=0, help="seed of untrained weights")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--out", required=True, metavar="FILE.npz")
    p.set_defaults(func=run)


def run(args) -> int:
    import numpy as np
    from tqdm.auto import tqdm

    from ensemble.embedding_cache import build_embedder, embed_patches
    from ensemble.weights import resolve_weights
    from preprocessing.pipeline import clip_features
    from seraudit.io import atomic_path

    source = resolve_weights(args.backbone, models_dir=args.models_dir, allow_untrained=args.allow_untrained)
    clips = [clip_features(p) for p in tqdm(args.audio, desc="log-mel patches + GDS", unit="clip", disable=args.quiet)]
    data = np.concatenate([c.patches.data for c in clips]).astype(np.float32)
    model = build_embedder(args.backbone, source, args.seed)
    emb = embed_patches(model, data, batch_size=args.batch_size, progress=not args.quiet, desc=f"{args.backbone} embeddings")
    out = args.out if str(args.out).endswith(".npz") else f"{args.out}.npz"
    with atomic_path(out) as tmp:
        with open(tmp, "wb") as f:
            np.savez(
                f,
                embeddings=emb,
                clip_index=np.concatenate([np.full(len(c.patches.data), i) for i, c in enumerate(clips)]),
                paths=np.array([str(p) for p in args.audio]),
                start_s=np.concatenate([c.patches.start_s for c in clips]),
                end_s=np.concatenate([c.patches.end_s for c in clips]),
                gds_keep=np.concatenate([c.selection.keep for c in clips]),
                gds_correlation=np.concatenate([c.selection.correlation for c in clips]),
                backbone=np.array(args.backbone),
                weights=np.array(source.describe()),
                untrained=np.array(not source.pretrained),
            )
    print(f"{len(emb)} patch embeddings [{emb.shape[1]}] of {len(clips)} clip(s) ({source.describe()}) -> {out}")
    return 0
