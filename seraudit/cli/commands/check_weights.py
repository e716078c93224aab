"""`seraudit check-weights`: does the Keras YAMNet, with the configured weights, reproduce Google's TFLite runtime?"""

from __future__ import annotations

import argparse
import json

from seraudit.cli.options import add_weights_options
from seraudit.ensemble.weights.check import DEFAULT_MAX_CLIPS


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "check-weights",
        help="compare the YAMNet port with Google's TFLite runtime; report VGGish weights",
        description=(
            "Load the configured YAMNet weights into the Keras port and compare it with the "
            "interpreter of yamnet.tflite on real clips: embedding cosine and top-1 AudioSet class "
            "on the interpreter's own log-mel patches, top-1 agreement and log-mel correlation with "
            "the project's front end. Also says whether pretrained VGGish weights are present."
        ),
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    add_weights_options(parser, allow_untrained=False)
    parser.add_argument(
        "--clips",
        nargs="+",
        default=None,
        metavar="DIR_OR_FILE",
        help="audio files or folders to compare on (default: the shared RAVDESS folder)",
    )
    parser.add_argument(
        "--max-clips",
        type=int,
        default=DEFAULT_MAX_CLIPS,
        help=f"use at most this many clips, the first in sorted order (default {DEFAULT_MAX_CLIPS})",
    )
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from seraudit.ensemble.weights.check import check_weights, collect_clips, describe_check

    clips = collect_clips(args.clips, args.max_clips)
    result = check_weights(args.models_dir, clips, download=not args.no_download)
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        print(describe_check(result))
    return 0 if result["yamnet"]["passed"] else 1
