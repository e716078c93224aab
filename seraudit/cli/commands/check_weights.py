"""`seraudit check-weights`: does the Keras YAMNet, with the configured weights, reproduce Google's TFLite runtime?"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from seraudit.cli.options import add_weights_options
from seraudit.core.errors import CorpusError
from seraudit.core.paths import ENV_SHARED_DIR, shared_dir

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".aiff", ".aif")
DEFAULT_MAX_CLIPS = 20


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


def collect_clips(specs: list[str | Path] | None, max_clips: int) -> list[Path]:
    """The first `max_clips` audio files named by `specs` (files, or folders searched recursively)."""
    if max_clips < 1:
        raise CorpusError(f"--max-clips must be at least 1, got {max_clips}")
    if not specs:
        default = shared_dir() / "data" / "ravdess"
        if not default.is_dir():
            raise CorpusError(
                f"no clips given and the default RAVDESS folder {default} does not exist; "
                f"pass --clips DIR_OR_FILE or set {ENV_SHARED_DIR}"
            )
        specs = [default]
    clips: list[Path] = []
    for spec in map(Path, specs):
        if spec.is_dir():
            clips += sorted(p for p in spec.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
        elif spec.is_file():
            clips.append(spec)
        else:
            raise CorpusError(f"--clips {spec}: no such file or folder")
    if not clips:
        raise CorpusError(f"no audio files ({', '.join(AUDIO_SUFFIXES)}) under {', '.join(map(str, specs))}")
    return clips[:max_clips]


def vggish_status(models_dir: str | None) -> dict:
    """Whether pretrained VGGish weights are present, and where to get them when they are not."""
    from seraudit.ensemble.weights import MANUAL_SOURCES, resolve_weights
    from seraudit.core.errors import WeightsError

    try:
        source = resolve_weights("vggish", models_dir=models_dir, download=False)
    except WeightsError:
        return {"status": f"missing: get {MANUAL_SOURCES['vggish']}", "weights": None, "sha256": None}
    return {
        "status": "pretrained weights present",
        "weights": str(source.path),
        "sha256": source.sha256,
        "format": source.format,
    }


def check_weights(models_dir: str | None, clips: list[Path], download: bool = True) -> dict:
    """The comparison behind the command, as plain data (`download=False`: models folder and cache only)."""
    from seraudit.ensemble.verify import verify_yamnet
    from seraudit.ensemble.weights import resolve_file, resolve_weights

    source = resolve_weights("yamnet", models_dir=models_dir, download=download)
    reference = source.path if source.format == "tflite" else resolve_file("yamnet_tflite", models_dir, download=download).path
    yamnet = verify_yamnet(source, reference, clips)
    yamnet.update(weights=str(source.path), sha256=source.sha256, format=source.format, reference=str(reference))
    return {"yamnet": yamnet, "vggish": vggish_status(models_dir)}


def _describe(result: dict) -> str:
    from seraudit.ensemble.verify import EMBEDDING_COSINE_BAR, FRONTEND_TOP1_BAR, TOP1_BAR

    y = result["yamnet"]
    lines = [
        f"YAMNet  {y['weights']} ({y['format']}, sha256 {str(y['sha256'])[:12]}...)",
        f"  reference: {y['reference']}; {y['clips']} clips, {y['patches']} patches",
        f"  embedding cosine      mean {y['embedding_cosine_mean']:.5f}  min {y['embedding_cosine_min']:.5f}"
        f"  (bar: mean >= {EMBEDDING_COSINE_BAR})",
        f"  top-1 AudioSet class  {100 * y['top1_agreement']:.1f} % agree  (bar: {100 * TOP1_BAR:.0f} %)",
        f"  project front end     {100 * y['frontend_top1_agreement']:.1f} % agree on {y['frontend_patches']}"
        f" patches (bar: {100 * FRONTEND_TOP1_BAR:.0f} %), log-mel Pearson {y['frontend_pearson']:.4f}",
        f"  -> {'passed' if y['passed'] else 'FAILED'}",
        f"VGGish  {result['vggish']['status']}"
        + (f" ({result['vggish']['weights']})" if result["vggish"].get("weights") else ""),
    ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    clips = collect_clips(args.clips, args.max_clips)
    result = check_weights(args.models_dir, clips, download=not args.no_download)
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
    else:
        print(_describe(result))
    return 0 if result["yamnet"]["passed"] else 1
