"""Benchmark: full speaker-independent cross-validation on RAVDESS (2.4 s) and EmoDB (2 s), one table.

Rows: corpus x model x fusion x GDS setting, with UAR / accuracy / macro-F1
(mean ± std over folds) and wall time. Frozen backbones (heads on cached
embeddings); VGGish is untrained unless weights are found, and marked so.

    .venv/bin/python benchmarks/cross_validation.py --corpora ravdess,emodb --gds on,off
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

SHARED = Path(os.environ.get("SERAUDIT_SHARED", Path(__file__).resolve().parents[2] / "shared"))
CORPORA = {"ravdess": SHARED / "data" / "ravdess", "emodb": SHARED / "data" / "emodb-2s"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", default="ravdess,emodb")
    parser.add_argument("--fusions", default="late,feature")
    parser.add_argument("--gds", default="on", help="comma-separated: on (default threshold), off, or thresholds e.g. 0.3")
    parser.add_argument("--models-dir", default=str(SHARED / "models"))
    parser.add_argument("--max-clips", type=int, default=None)
    parser.add_argument("--bootstrap", type=int, default=1000)
    args = parser.parse_args()

    from ensemble.embedding_cache import GdsSettings
    from ensemble.experiment import run_experiment
    from ensemble.run_dir import corpus_display
    from ensemble.training import TrainSettings

    rows = []
    for corpus in args.corpora.split(","):
        for gds_text in args.gds.split(","):
            gds = GdsSettings(False) if gds_text == "off" else GdsSettings(True, None if gds_text == "on" else float(gds_text))
            for k, fusion in enumerate(args.fusions.split(",")):
                models = ["ensemble", "yamnet", "vggish", "egemaps"] if k == 0 else ["ensemble"]
                settings = TrainSettings(corpus=corpus, data=str(CORPORA[corpus]), models=models, fusion=fusion, gds=gds,
                                         models_dir=args.models_dir, allow_untrained=("vggish",), download=False,
                                         max_clips=args.max_clips, n_boot=args.bootstrap, progress=False)
                start = time.perf_counter()
                results = run_experiment(settings, out=None)
                seconds = time.perf_counter() - start
                for name, m in results["models"].items():
                    rows.append((corpus_display(corpus), m["display_name"], fusion if name == "ensemble" else "-", gds.label(),
                                 m["uar"], m["accuracy"], m["macro_f1"], seconds))
                for c in results["comparisons"]:
                    print(f"  [{corpus_display(corpus)}, {gds.label()}] {c['a_display']} vs {c['b_display']}: "
                          f"{c['uar_difference']:+.1f} [{c['ci_low']:+.1f}, {c['ci_high']:+.1f}] p={c['p_value']:.3g}", flush=True)
                print(f"  done {corpus} {fusion} {gds.label()} in {seconds:.0f} s", flush=True)
    head = f"{'corpus':<16} {'model':<42} {'fusion':<8} {'GDS':<8} {'UAR %':>12} {'acc. %':>12} {'macro-F1 %':>12} {'run s':>6}"
    print(head)
    print("-" * len(head))
    for corpus, model, fusion, gds, uar, acc, f1, sec in rows:
        cells = [f"{x['mean']:.1f} ± {x['std']:.1f}" for x in (uar, acc, f1)]
        print(f"{corpus:<16} {model:<42} {fusion:<8} {gds:<8} {cells[0]:>12} {cells[1]:>12} {cells[2]:>12} {sec:>6.0f}")


if __name__ == "__main__":
    main()
