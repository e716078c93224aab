"""`seraudit intervene`: resynthesise clips with one verified acoustic change at a time and show what moves each model."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from seraudit.cli.flags import cli_words
from seraudit.cli.options import add_quiet


def add_parser(subparsers) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "intervene", help="change F0, F0 range, intensity, speaking rate or spectral tilt of clips and see what moves "
                          "each model's decision",
        description="Each clip is resynthesised with Praat (PSOLA) with one change at several strengths; every "
        "variant is re-measured and kept only when the intended change happened and the rest stayed put. Effects "
        "are measured against identity resynthesis (the same vocoder, nothing changed) with the held-out fold "
        "model of each clip. Writes OUT/interventions.json and the kept variants' audio (OUT/audio). A clip that "
        "cannot be used is recorded and the batch goes on; exit status 0 when every clip was used, 3 when some "
        "failed, 2 when none could be.")
    p.add_argument("run_dir", metavar="RUN", type=Path, help="run directory written by `seraudit train`")
    p.add_argument("audio", metavar="AUDIO", nargs="+", type=Path, help="audio files (wav, flac)")
    p.add_argument("--out", type=Path, required=True, help="folder for interventions.json and the variants' audio")
    p.add_argument("--models", default=None, help="comma-separated subset of the run's models (default: all)")
    p.add_argument("--features", default=None,
                   help="comma-separated subset of f0_level,f0_range,intensity,rate,tilt (default: all; identity "
                        "resynthesis, the control, always runs)")
    p.add_argument("--cache-dir", type=Path, default=None,
                   help="synthesis cache (default: $SERAUDIT_CACHE_DIR/interventions)")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap intervals (default: 0)")
    add_quiet(p)
    p.set_defaults(func=run)
    return p


def _split(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def run(args) -> int:
    from seraudit.api.intervening import intervene
    from seraudit.core.errors import batch_status

    log = None if args.quiet else (lambda line: print(line, file=sys.stderr))
    result = intervene(args.run_dir, args.audio, out=args.out, models=_split(args.models),
                       features=_split(args.features), cache_dir=args.cache_dir, seed=args.seed, log=log)
    print(f"{'clip':44s} {'variant':22s} {'kept':5s} {'change':>28s}  reason")
    for clip in result["clips"]:
        name = Path(clip["path"]).name
        for note in clip["notes"]:
            print(f"{name:44s} note: {note}")
        for v in clip["variants"]:
            intended = v.get("intended") or {}
            change = intended.get("text", "") if v.get("accepted") else ""
            print(f"{name:44s} {v['key']:22s} {'yes' if v['accepted'] else 'no':5s} {change:>28s}  {v.get('reason', '')}")
    print()
    print(f"{'model':12s} {'emotion':10s} {'identity flips':>15s} {'mean |dp|':>10s}")
    for row in result["dose_response"]["identity"]:
        flip = "-" if row["flip_rate"] is None else f"{row['flip_rate']:.2f}"
        dp = "-" if row["mean_abs_dp"] is None else f"{row['mean_abs_dp']:.3f}"
        print(f"{row['model']:12s} {row['emotion']:10s} {flip:>15s} {dp:>10s}")
    print()
    print(f"{'model':12s} {'feature':10s} used  (rule: {result['dose_response']['rule']})")
    for row in result["dose_response"]["used"]:
        best = max(row["strengths"], key=lambda s: s["ci_low"]) if row["strengths"] else None
        figure = (f"strength {best['strength']:+g}: excess {best['excess']:+.3f} [{best['ci_low']:+.3f}, "
                  f"{best['ci_high']:+.3f}]" if best else "")
        print(f"{row['model']:12s} {row['feature']:10s} {'yes' if row['used'] else 'no':4s}  {figure}")
    for failure in result["failures"]:
        print(f"seraudit intervene: failed: {failure['clip']}: {cli_words(failure['error'])}", file=sys.stderr)
    print(f"wrote {Path(args.out) / 'interventions.json'}", file=sys.stderr)
    bad = {f["clip"] for f in result["failures"]}
    return batch_status(len(set(map(str, args.audio)) - bad), len(bad))
