"""`seraudit train`: cross-validate the emotion models on a corpus and save the final models as a run directory."""

from __future__ import annotations

import argparse

from seraudit.cli.options import add_hub_weights, add_quiet, add_weights_options
from seraudit.ensemble.run import RUN_MODELS
from seraudit.ensemble.model.spec import FUSIONS, POOLINGS


def _models(text: str) -> list[str]:
    names = [m.strip().lower() for m in text.split(",") if m.strip()]
    bad = [m for m in names if m not in RUN_MODELS]
    if bad or not names:
        raise argparse.ArgumentTypeError(f"unknown model(s) {', '.join(bad) or '(none)'}; choose from {', '.join(RUN_MODELS)}")
    return list(dict.fromkeys(names))


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "train",
        help="train and cross-validate the models (speaker-independent) and save a run",
        description="Speaker-independent cross-validation of YAMNet-only, VGGish-only, the fused ensemble and the "
        "eGeMAPS + logistic regression reference; the final models (trained on all speakers) go to --out.",
    )
    p.add_argument("--corpus", required=True, help="corpus layout: ravdess, emodb, crema-d, tess, savee, emovo, folders, manifest")
    p.add_argument("--data", required=True, help="corpus folder (or manifest CSV)")
    p.add_argument("--models", type=_models, default=list(RUN_MODELS), help=f"comma-separated: {','.join(RUN_MODELS)} (default: all)")
    p.add_argument("--fusion", choices=tuple(FUSIONS), default="late", help="how the ensemble fuses its branches (default: late)")
    p.add_argument("--fine-tune", action="store_true", help="fine-tune the top blocks of the backbones end-to-end (slow)")
    p.add_argument("--fine-tune-epochs", type=int, default=None, help="maximum epochs of end-to-end fine-tuning (default 20)")
    p.add_argument("--backbone-lr-ratio", type=float, default=None, metavar="R",
                   help="with --fine-tune: the backbone layers learn at R times the heads' learning rate (default 0.1; "
                   "0 trains the heads only)")
    p.add_argument("--fine-tune-augment", choices=("full", "mild", "off"), default=None,
                   help="with --fine-tune: the augmentation drawn afresh every epoch, seeded by --seed: full (default: "
                   "gain, shift, noise, SpecAugment), mild (the same without noise) or off (clean patches)")
    p.add_argument("--mixup", type=float, default=None, metavar="ALPHA",
                   help="with --fine-tune: mix patches and targets within each batch by Beta(ALPHA, ALPHA) (default 0: off)")
    gds = p.add_mutually_exclusive_group()
    gds.add_argument("--gds-threshold", type=float, default=None, help="GDS correlation threshold (default: preprocessing.gds.DEFAULT_GDS_THRESHOLD)")
    gds.add_argument("--no-gds", action="store_true", help="train and pool over every patch (no Gaussian data selection)")
    add_weights_options(p)
    add_hub_weights(p)
    p.add_argument("--layers", type=_layers, default=None, metavar="SPEC",
                   help="layers the heads read: 'search' (default: chosen on validation speakers), 'last' (the embeddings), "
                   "or fixed ones, e.g. yamnet:layer8,vggish:fc1 (+ joins several: yamnet:layer6+layer7+layer8)")
    p.add_argument("--layer-search", choices=("unweighted", "weighted", "all"), default="unweighted",
                   help="candidates of the layer search: single layers and fixed sets (unweighted, the default), "
                   "learned softmax-weighted sums of layers (weighted), or both (all)")
    p.add_argument("--multitask", type=_aux_tasks, default=(), metavar="FIELDS",
                   help="also learn these clip fields beside the emotion, e.g. gender,intensity (RAVDESS); their "
                   "accuracies are reported beside the emotion metrics")
    p.add_argument("--aux-weight", type=float, default=0.3, help="loss weight of the --multitask fields (default 0.3)")
    p.add_argument("--augment", type=int, default=0, metavar="K",
                   help="train the heads on K augmented copies of every training clip too (gain, shift, noise, "
                   "SpecAugment; seeded by --seed; embedded once and cached). Default 0")
    p.add_argument("--pooling", choices=POOLINGS, default="mean",
                   help="how a clip's kept patches become its prediction: mean of patch log-probabilities (default), "
                   "statistics pooling (mean and std of the tapped features) or attentive statistics pooling (a learned "
                   "attention over the patches, saved with every prediction and drawn in the audit)")
    p.add_argument("--max-clips", type=int, default=None, help="quick run on at most N clips (spread over speakers)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--cache-dir", default=None, help="embedding cache folder (default $SERAUDIT_CACHE_DIR/embeddings)")
    p.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples for the UAR-difference CI")
    add_quiet(p)
    p.add_argument("--test-corpus", default=None, help="cross-corpus mode: train on all of --corpus, test on this corpus "
                   "over the emotions both share (instead of cross-validation)")
    p.add_argument("--test-data", default=None, help="folder (or manifest CSV) of --test-corpus")
    p.add_argument("--strict", action="store_true",
                   help="refuse a corpus with clips that cannot be used (default: train on the rest and list them in "
                   "the run's failures.csv; the exit status is then 3)")
    p.add_argument("--label-map", default=None, metavar="FILE",
                   help="CSV (columns from,to) or JSON object mapping a manifest's own labels to the canonical emotions")
    p.add_argument("--out", required=True, help="run directory to write (replaced atomically)")
    p.set_defaults(func=run)


def _aux_tasks(text: str) -> tuple[str, ...]:
    from seraudit.ensemble.training.settings import AUX_TASKS

    fields = tuple(f.strip() for f in text.split(",") if f.strip())
    unknown = [f for f in fields if f not in AUX_TASKS]
    if unknown:
        raise argparse.ArgumentTypeError(f"--multitask {text!r}: unknown field(s) {unknown}; choose from {', '.join(AUX_TASKS)}")
    return fields


def _layers(text: str):
    from seraudit.ensemble.training.settings import parse_layers

    try:
        return parse_layers(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def train_settings(args: argparse.Namespace):
    """The run's `TrainSettings`, built once from the parsed command line (frozen: nothing changes them later).

    The fine-tuning options left unset keep the settings' defaults; set without ``--fine-tune`` they are refused.
    """
    import sys

    from seraudit.core.errors import CorpusError
    from seraudit.ensemble.training.settings import TrainSettings
    from seraudit.preprocessing.gds import GdsSettings

    tuning = {"fine_tune_epochs": args.fine_tune_epochs, "fine_tune_backbone_lr_ratio": args.backbone_lr_ratio,
              "mixup_alpha": args.mixup, "fine_tune_augment": args.fine_tune_augment}
    tuning = {key: value for key, value in tuning.items() if value is not None}
    if tuning and not args.fine_tune:
        raise CorpusError("--fine-tune-epochs, --backbone-lr-ratio, --fine-tune-augment and --mixup only apply "
                          "with --fine-tune")
    return TrainSettings(
        corpus=args.corpus,
        data=args.data,
        models=args.models,
        fusion=args.fusion,
        fine_tune=args.fine_tune,
        gds=GdsSettings(enabled=not args.no_gds, threshold=args.gds_threshold),
        seed=args.seed,
        max_clips=args.max_clips,
        models_dir=args.models_dir,
        allow_untrained=args.allow_untrained,
        download=not args.no_download,
        cache_dir=args.cache_dir,
        progress=not args.quiet,
        n_boot=args.bootstrap,
        command_line=["seraudit", *sys.argv[1:]],
        layers=args.layers,
        weights=dict(args.weights) if args.weights else None,
        layer_search=args.layer_search,
        aux_tasks=args.multitask,
        aux_weight=args.aux_weight,
        augment_copies=args.augment,
        pooling=args.pooling,
        strict=args.strict,
        label_map=args.label_map,
        **tuning,
    )


def run(args) -> int:
    import sys

    from seraudit.core.errors import CorpusError
    from seraudit.ensemble.evaluation.scoring import comparison_table
    from seraudit.ensemble.training.experiment import run_experiment

    settings = train_settings(args)
    if (args.test_corpus is None) != (args.test_data is None):
        raise CorpusError("cross-corpus testing needs both --test-corpus and --test-data (e.g. --test-corpus emodb --test-data ../shared/data/emodb-2s)")
    if args.test_corpus is not None:
        from seraudit.ensemble.training.cross_corpus import run_cross_corpus

        results = run_cross_corpus(settings, args.test_corpus, args.test_data, args.out)
        title = f"{results['corpus_display']}, {settings.gds.label()}, cross-corpus ({', '.join(results['shared_labels'])})"
    else:
        results = run_experiment(settings, args.out)
        title = f"{results['corpus_display']}, {settings.gds.label()}, speaker-independent CV"
    print(comparison_table(results, title))
    print(f"run written to {args.out}")
    from seraudit.core.errors import batch_status

    failures = results.get("failures", [])
    for failure in failures:
        print(f"seraudit train: left out {failure['clip']}: {failure['error']}", file=sys.stderr)
    if failures:
        print(f"{len(failures)} clip(s) left out (listed in {args.out}/failures.csv)", file=sys.stderr)
    return batch_status(results.get("n_clips", 1), len(failures))
