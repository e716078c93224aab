"""`seraudit embed`: per-patch backbone embeddings of audio files, with patch times and the GDS keep-mask, in one .npz.

A file that cannot be used (unreadable, silent, too short, ...) does not stop
the batch: it is named on stderr with the reason and the fix, listed in the
.npz (``skipped_paths`` / ``skipped_reasons``), and the command exits with
status 3 (`seraudit.core.errors.EXIT_SOME_FAILED`) so scripts notice. When no
file can be used, nothing is written and the command stops with the first
file's error (status 2).
"""

from __future__ import annotations

from seraudit.cli.options import add_engine, add_max_duration, add_quiet, add_require_speech, add_weights_options, make_engine
from seraudit.core.errors import EXIT_SOME_FAILED
from seraudit.ensemble.model.spec import BACKBONES
from seraudit.ensemble.data.embedding_cache import EMBED_BATCH

EXIT_SOME_SKIPPED = EXIT_SOME_FAILED


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "embed",
        help="per-patch YAMNet or VGGish embeddings of audio files (.npz)",
        description="Per-patch embeddings [N, D] with clip index, patch start/end seconds and the GDS keep-mask. "
        "Unusable files are skipped, named on stderr and listed in the .npz; the exit status is then 3.",
    )
    p.add_argument("audio", metavar="AUDIO", nargs="+", help="audio files (wav, flac)")
    p.add_argument("--backbone", choices=tuple(BACKBONES), default="yamnet")
    add_weights_options(p)
    p.add_argument("--seed", type=int, default=0, help="seed of untrained weights")
    p.add_argument("--batch-size", type=int, default=EMBED_BATCH)
    add_require_speech(p)
    add_max_duration(p)
    add_quiet(p)
    add_engine(p)
    p.add_argument("--out", required=True, metavar="FILE.npz")
    p.set_defaults(func=run)


def _report_skip(path: str, reason: str) -> None:
    import sys

    print(f"seraudit embed: skipped {path}: {reason}", file=sys.stderr)


def run(args) -> int:
    from seraudit.ensemble.weights.official import resolve_weights

    source = resolve_weights(args.backbone, models_dir=args.models_dir,
                             allow_untrained=args.backbone in args.allow_untrained, download=not args.no_download)
    engine = make_engine(args)
    result = engine.embed_files(args.audio, args.backbone, source, seed=args.seed, batch_size=args.batch_size,
                                on_skip=_report_skip, require_speech=args.require_speech, max_duration_s=args.max_duration)
    out = result.save(args.out)
    emb = result.embeddings
    print(f"{len(emb)} patch embeddings [{emb.shape[1]}] of {len(result.clips)} clip(s) ({source.describe()}) -> {out}")
    if result.skipped:
        print(f"{len(result.skipped)} file(s) skipped (named above)")
        return EXIT_SOME_SKIPPED
    return 0
