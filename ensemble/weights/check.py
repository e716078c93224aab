"""The check of the configured backbone weights (`seraudit check-weights`): the clips it runs on, its result, its text.

YAMNet, loaded into the Keras port, is compared with Google's TFLite runtime on
real clips (`ensemble.weights.port_check`); VGGish has no runtime to compare with, so the
check only says whether pretrained weights are present and where to get them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from seraudit.core.errors import CorpusError, WeightsError
from seraudit.core.paths import ENV_SHARED_DIR, shared_dir
from seraudit.ensemble.weights.port_check import EMBEDDING_COSINE_BAR, FRONTEND_TOP1_BAR, TOP1_BAR, verify_yamnet
from seraudit.ensemble.weights.official import manual_source, resolve_file, resolve_weights

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".aiff", ".aif")
DEFAULT_MAX_CLIPS = 20


def collect_clips(specs: Sequence[str | Path] | None, max_clips: int) -> list[Path]:
    """The first `max_clips` audio files named by `specs` (files, or folders searched recursively, in sorted order).

    Without `specs`, the shared RAVDESS folder: the check runs on real speech out of the box.
    """
    if max_clips < 1:
        raise CorpusError(f"`max_clips` must be at least 1, got {max_clips}")
    if not specs:
        default = shared_dir() / "data" / "ravdess"
        if not default.is_dir():
            raise CorpusError(
                f"no clips given and the default RAVDESS folder {default} does not exist; "
                f"pass `clips` (a folder or audio files) or set {ENV_SHARED_DIR}"
            )
        specs = [default]
    clips: list[Path] = []
    for spec in map(Path, specs):
        if spec.is_dir():
            clips += sorted(p for p in spec.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES and p.is_file())
        elif spec.is_file():
            clips.append(spec)
        else:
            raise CorpusError(f"`clips` {spec}: no such file or folder")
    if not clips:
        raise CorpusError(f"no audio files ({', '.join(AUDIO_SUFFIXES)}) under {', '.join(map(str, specs))}")
    return clips[:max_clips]


def vggish_status(models_dir: str | None) -> dict:
    """Whether pretrained VGGish weights are present (never downloads), and where to get them when they are not."""
    try:
        source = resolve_weights("vggish", models_dir=models_dir, download=False)
    except WeightsError:
        return {"status": f"missing: get {manual_source('vggish')}", "weights": None, "sha256": None}
    return {
        "status": "pretrained weights present",
        "weights": str(source.path),
        "sha256": source.sha256,
        "format": source.format,
    }


def check_weights(models_dir: str | None, clips: Sequence[Path], download: bool = True) -> dict:
    """The whole check as plain data: ``{"yamnet": verify_yamnet's result + weights files, "vggish": vggish_status}``.

    `download=False`: the models folder and the cache only.
    """
    source = resolve_weights("yamnet", models_dir=models_dir, download=download)
    reference = source.path if source.format == "tflite" else resolve_file("yamnet_tflite", models_dir, download=download).path
    yamnet = verify_yamnet(source, reference, clips)
    yamnet.update(weights=str(source.path), sha256=source.sha256, format=source.format, reference=str(reference))
    return {"yamnet": yamnet, "vggish": vggish_status(models_dir)}


def describe_check(result: dict) -> str:
    """`check_weights`' result as the lines a person reads: each measure next to the bar it must reach."""
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
