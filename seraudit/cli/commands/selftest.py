"""`seraudit selftest`: train heads on corpora with a planted cue and check that the audit catches each plant."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from seraudit.core.paths import default_models_dir, shared_dir

#: The default slice: a few speakers x two emotions of the shared RAVDESS copy (minutes on 2 cores).
DEFAULT_SPEAKERS = "01,02,03,04,05,06"
DEFAULT_EMOTIONS = "calm,sad"


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "selftest",
        help="does the audit catch a planted shortcut? (a faint tone, extra leading silence)",
        description=(
            "Plants a cue on one emotion's clips of a corpus slice (a faint 6.75 kHz tone; separately 1 s of leading "
            "silence), trains heads on each planted corpus and on the unplanted one, and checks that the audit "
            "catches each plant: its shortcut check (the tone: everything above 6 kHz removed; the silence: leading "
            "and trailing non-speech trimmed) fails beyond the clean model, removing the cue flips the "
            "held-out decisions, and attribution concentrates on the cue (AUC >= 0.8). The unplanted run must not "
            "look planted. Prints one line per plant (caught or missed, with the figures) and the control's. Exit "
            "status 0 when every plant is caught and the control passes, 1 otherwise."
        ),
    )
    parser.add_argument("--data", type=Path, default=None,
                        help="corpus folder (default: the shared RAVDESS 2.4-s copy, ../shared/data/ravdess)")
    parser.add_argument("--corpus", default="ravdess", help="corpus layout of --data (default: ravdess)")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for the planted corpora, runs and selftest.json (default: a temporary folder)")
    parser.add_argument("--plants", default="tone,silence", help="comma-separated plants (default: tone,silence)")
    parser.add_argument("--models", default="yamnet", help="comma-separated models to train (default: yamnet)")
    parser.add_argument("--speakers", default=DEFAULT_SPEAKERS,
                        help=f"comma-separated speakers of the slice, or 'all' (default: {DEFAULT_SPEAKERS})")
    parser.add_argument("--emotions", default=DEFAULT_EMOTIONS,
                        help=f"comma-separated emotions of the slice, or 'all' (default: {DEFAULT_EMOTIONS})")
    parser.add_argument("--emotion", default=None, help="the planted emotion (default: the slice's first)")
    parser.add_argument("--max-clips", type=int, default=None, help="at most this many clips of the slice")
    parser.add_argument("--models-dir", default=None,
                        help="pretrained weights folder (default: $SERAUDIT_MODELS_DIR, else ../shared/models)")
    parser.add_argument("--cache-dir", default=None, help="embedding cache (default: the package cache)")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.set_defaults(func=run)
    return parser


def _names(text: str) -> list[str] | None:
    names = [n.strip() for n in text.split(",") if n.strip()]
    return None if names == ["all"] else names


def run(args: argparse.Namespace) -> int:
    from seraudit.xai.selftest.selftest import run_selftest

    data = args.data or shared_dir() / "data" / "ravdess"
    models_dir = args.models_dir or default_models_dir()
    if models_dir is None and (shared_dir() / "models").is_dir():
        models_dir = str(shared_dir() / "models")
    with tempfile.TemporaryDirectory(prefix="seraudit-selftest-") as scratch:
        result = run_selftest(data, args.corpus, args.out or scratch, plants=_names(args.plants) or (),
                              models=_names(args.models) or (), emotion=args.emotion, emotions=_names(args.emotions),
                              speakers=_names(args.speakers), max_clips=args.max_clips, models_dir=models_dir,
                              cache_dir=args.cache_dir)
    if args.json:
        json.dump(result.to_dict(), sys.stdout, indent=2, sort_keys=True, default=str)
        print()
    else:
        print(f"selftest on {result.clips} clips ({result.speakers} speakers; {', '.join(result.emotions)}), "
              f"{result.seconds:.0f} s" + (f"; runs in {args.out}" if args.out else ""))
        for line in result.lines():
            print(line)
        for failure in result.failures:
            print(f"  left out: {failure['clip']}: {failure['error']}", file=sys.stderr)
    return 0 if result.passed else 1
