"""`seraudit explain`: explain audio clips with every chosen method and model, render and score the explanations."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from seraudit.cli.flags import cli_words
from seraudit.cli.options import add_engine, add_max_duration, add_methods, add_quiet, add_require_speech, make_engine
from seraudit.core.errors import batch_status
from seraudit.ensemble.model.spec import NEURAL_MODELS

DEFAULT_MODELS = ",".join(NEURAL_MODELS)


def add_parser(subparsers) -> argparse.ArgumentParser:
    parser = subparsers.add_parser(
        "explain",
        help="explain clips (maps, listenable renders, overlays, faithfulness metrics)",
        description=(
            "For each clip x model x method: the attribution map (npz), the time excerpt and the "
            "listened/ignored resynthesis (wav), an overlay on the log-mel (png) and deletion/insertion "
            "faithfulness against random orders (json). A clip that fails is recorded (audit.json, failures.csv) "
            "and the batch goes on; clips already audited with the same settings are reused. Exit status 0 when "
            "every clip was audited, 3 when some failed, 2 when none could be."
        ),
    )
    parser.add_argument("run", type=Path, help="trained run directory (from `seraudit train`)")
    parser.add_argument("audio", nargs="+", type=Path, help="audio files to explain")
    add_methods(parser)
    parser.add_argument("--models", default=DEFAULT_MODELS, help=f"comma-separated models of the run (default: {DEFAULT_MODELS})")
    parser.add_argument("--out", type=Path, required=True, help="audit folder to write (read by `seraudit report`)")
    parser.add_argument("--target", default=None, metavar="LABEL", help="explain this class instead of each model's prediction")
    parser.add_argument("--sanity", type=int, default=0, metavar="N",
                        help="run the model-randomisation sanity check on the first N clips (default: 0, off)")
    parser.add_argument("--json", action="store_true", help="print the metrics summary as JSON")
    add_require_speech(parser)
    add_max_duration(parser)
    add_quiet(parser)
    add_engine(parser)
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from seraudit.api.auditing import audit
    from seraudit.cli.commands.audit_all import explained_by_line

    names = [m.strip() for m in args.models.split(",") if m.strip()]
    engine = make_engine(args)
    result = audit(args.run, args.audio, out=args.out, methods=args.methods, models=names, target=args.target,
                   sanity=args.sanity, require_speech=args.require_speech, max_duration_s=args.max_duration,
                   title=f"Audit of {args.run.name}", progress=not args.quiet, engine=engine)
    index = result.index
    summary = {"out": os.fspath(args.out), "clips": len(index["clips"]), "reused": index["reused"],
               "failures": index["failures"], "summary": index["summary"], "sanity": index["sanity"],
               "explained_by": index.get("explained_by")}
    if args.json:
        json.dump(summary, sys.stdout, indent=2, sort_keys=True)
        print()
    else:
        print(f"audited {len(index['clips'])} clip(s) into {args.out} ({index['reused']} reused, "
              f"{len(index['failures'])} failed)")
        print(f"explained by: {explained_by_line(index)}")
        for failure in index["failures"]:
            print(f"  failed: {failure['clip']}: {cli_words(failure['error'])}", file=sys.stderr)
    for clip in index["clips"]:
        for warning in clip.get("warnings", []):
            print(f"  warning: {clip['path']}: {warning}", file=sys.stderr)
    return batch_status(len(index["clips"]), len(index["failures"]))
