"""The options several sub-commands share, defined once so that a flag means the same thing in every command.

`--models-dir DIR`, `--allow-untrained LIST`, `--no-download` (where weights are
looked up), `--quiet` (no progress bars) and `--methods LIST` (what `explain` and
`audit-all` compute). Each command adds the ones that apply to it; the values land
in `args` under the same name and with the same type everywhere.
"""

from __future__ import annotations

import argparse

from seraudit.ensemble.spec import BACKBONES


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
    from seraudit.xai.audit import DEFAULT_METHODS, PROBE

    default = ",".join((*DEFAULT_METHODS, PROBE))
    parser.add_argument(
        "--methods", default=default, metavar="LIST",
        help=f"comma-separated methods; '{PROBE}' adds eGeMAPS deviations (default: {default})",
    )


def add_require_speech(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--require-speech", action="store_true",
                        help="refuse clips with no speech detected (default: use them and warn 'no speech detected'; "
                        "the rule is in seraudit.preprocessing.speech)")


def add_max_duration(parser: argparse.ArgumentParser) -> None:
    from seraudit.preprocessing.audio import MAX_DURATION_S

    parser.add_argument("--max-duration", type=float, default=None, metavar="SECONDS",
                        help=f"refuse clips longer than this, before decoding them (default: {MAX_DURATION_S:g} s)")
