"""The options several sub-commands share, defined once so that a flag means the same thing in every command.

`--models-dir DIR`, `--allow-untrained LIST`, `--no-download` (where weights are
looked up), `--quiet` (no progress bars) and `--methods LIST` (what `explain` and
`audit-all` compute). Each command adds the ones that apply to it; the values land
in `args` under the same name and with the same type everywhere.
"""

from __future__ import annotations

import argparse

from seraudit.ensemble.model.spec import BACKBONES


def backbone_list(text: str) -> tuple[str, ...]:
    """A comma list of backbones ("vggish", "yamnet,vggish"), lower-cased, without repeats; empty means none.

    The Makefile passes `--allow-untrained "$(ALLOW_UNTRAINED)"`, so an empty
    value must be accepted and mean "no backbone".
    """
    names = [name.strip().lower() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in BACKBONES]
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown backbone(s) {', '.join(map(repr, unknown))}; choose from {', '.join(BACKBONES)} "
            "(comma-separated, e.g. vggish or yamnet,vggish)"
        )
    return tuple(dict.fromkeys(names))


def add_models_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--models-dir", default=None, metavar="DIR",
        help="folder of backbone weights laid out like ../shared/models (default: $SERAUDIT_MODELS_DIR, then the cache)",
    )


def add_allow_untrained(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--allow-untrained", type=backbone_list, default=(), metavar="LIST",
        help=f"comma-separated backbones ({', '.join(BACKBONES)}) that may use seeded random weights "
        "when no pretrained weights are found, e.g. vggish (default: none)",
    )


def add_no_download(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-download", action="store_true", help="never download weights (models folder and cache only)")


def add_weights_options(parser: argparse.ArgumentParser, *, allow_untrained: bool = True) -> None:
    """`--models-dir`, `--allow-untrained` (unless told otherwise) and `--no-download`: where backbone weights come from."""
    add_models_dir(parser)
    if allow_untrained:
        add_allow_untrained(parser)
    add_no_download(parser)


def add_quiet(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def add_methods(parser: argparse.ArgumentParser) -> None:
    """`--methods`: the library's default attribution methods plus the eGeMAPS `probe` pseudo-method."""
    from seraudit.xai.audit.runner import DEFAULT_METHODS, PROBE

    default = ",".join((*DEFAULT_METHODS, PROBE))
    parser.add_argument(
        "--methods", default=default, metavar="LIST",
        help=f"comma-separated methods; '{PROBE}' adds eGeMAPS deviations (default: {default})",
    )


def positive_int(text: str) -> int:
    """A whole number, 1 or more (`--workers`, `--cpus-per-worker`)."""
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number, 1 or more, got {text!r}")
    return n


def add_engine(parser: argparse.ArgumentParser) -> None:
    """`--engine local|ray` and where Ray runs: `--ray-address`, `--workers`, `--cpus-per-worker`, `--gpus-per-worker`."""
    group = parser.add_argument_group("engine", "where the clips are computed (see README, 'Corpus-scale runs on Ray')")
    group.add_argument("--engine", choices=("local", "ray"), default="local",
                       help="local: this process (default); ray: a pool of Ray workers, one machine or a cluster")
    group.add_argument("--ray-address", default=None, metavar="ADDR",
                       help="join a running Ray cluster ('auto' or HOST:PORT); default: start a local Ray instance")
    group.add_argument("--workers", type=positive_int, default=None, metavar="N",
                       help="Ray workers, each loading the models once (default: 2)")
    group.add_argument("--cpus-per-worker", type=positive_int, default=None, metavar="N",
                       help="CPUs (and TensorFlow threads) of each Ray worker (default: 1)")
    group.add_argument("--gpus-per-worker", type=float, default=None, metavar="G",
                       help="GPUs of each Ray worker (default: a share of the cluster's GPUs when it has any)")


def make_engine(args: argparse.Namespace):
    """The engine `args` ask for: a `seraudit.xai.engines.local.LocalEngine` or a `seraudit.xai.engines.ray_engine.RayEngine`."""
    from seraudit.core.errors import SerauditError

    ray_flags = {"--ray-address": args.ray_address, "--workers": args.workers,
                 "--cpus-per-worker": args.cpus_per_worker, "--gpus-per-worker": args.gpus_per_worker}
    if args.engine == "local":
        given = [flag for flag, value in ray_flags.items() if value is not None]
        if given:
            raise SerauditError(f"{', '.join(given)} only apply to --engine ray; add --engine ray or drop them")
    clip_options = {"require_speech": getattr(args, "require_speech", None), "max_duration_s": getattr(args, "max_duration", None)}
    if args.engine == "local":
        from seraudit.xai.engines.local import LocalEngine

        return LocalEngine(progress=not getattr(args, "quiet", False), clip_options=clip_options)
    from seraudit.xai.engines.ray_engine import RayEngine, RayOptions

    options = RayOptions(address=args.ray_address, workers=args.workers or 2, cpus_per_worker=args.cpus_per_worker or 1,
                         gpus_per_worker=args.gpus_per_worker)
    return RayEngine(options, progress=not getattr(args, "quiet", False), clip_options=clip_options)


def hub_handle(text: str) -> tuple[str, str]:
    """`BACKBONE=HANDLE`, or a bare handle naming one backbone (https://tfhub.dev/google/yamnet/1 -> yamnet)."""
    backbone, sep, handle = text.partition("=")
    if sep and backbone.strip().lower() in BACKBONES and "://" not in backbone:
        backbone, handle = backbone.strip().lower(), handle.strip()
    else:
        handle = text.strip()
        named = [b for b in BACKBONES if b in handle.lower()]
        if len(named) != 1:
            raise argparse.ArgumentTypeError(
                f"cannot tell which backbone {handle!r} is for; write BACKBONE=HANDLE, e.g. "
                "yamnet=https://tfhub.dev/google/yamnet/1"
            )
        backbone = named[0]
    if not handle.startswith(("https://", "http://", "gs://")):
        raise argparse.ArgumentTypeError(f"{handle!r} is not a model handle (an https:// TF Hub or Kaggle address)")
    return backbone, handle


def add_hub_weights(parser: argparse.ArgumentParser) -> None:
    """`--weights HANDLE` (repeatable): a TF Hub / Kaggle model handle for a backbone, resolved by tensorflow_hub."""
    parser.add_argument(
        "--weights", type=hub_handle, action="append", default=None, metavar="[BACKBONE=]HANDLE",
        help="a TF Hub / Kaggle model handle for a backbone, e.g. https://tfhub.dev/google/yamnet/1 (downloaded once "
        "into $TFHUB_CACHE_DIR, default $SERAUDIT_CACHE_DIR/tfhub); replaces --models-dir for that backbone",
    )


def add_require_speech(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--require-speech", action="store_true",
                        help="refuse clips with no speech detected (default: use them and warn 'no speech detected'; "
                        "the rule is in seraudit.preprocessing.speech)")


def add_max_duration(parser: argparse.ArgumentParser) -> None:
    from seraudit.preprocessing.audio import MAX_DURATION_S

    parser.add_argument("--max-duration", type=float, default=None, metavar="SECONDS",
                        help=f"refuse clips longer than this, before decoding them (default: {MAX_DURATION_S:g} s)")
