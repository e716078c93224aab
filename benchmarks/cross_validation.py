"""Benchmark: speaker-independent cross-validation on RAVDESS (2.4 s) and EmoDB (2 s), plus cross-corpus rows, in one table.

Rows: corpus x layers x model x fusion x GDS setting, with UAR / accuracy /
macro-F1 / top-2 (mean ± std over folds; over test speakers for cross-corpus
rows), the fraction of patches GDS kept, and wall time. ``--variants`` is the
ablation axis: ';'-separated training settings, each a space-separated list of
``key=value`` (empty or ``default``: the tool's defaults):

* ``layers=last`` (each backbone's embedding), ``layers=search`` (chosen on
  validation speakers, the default) or fixed layers such as ``layers=yamnet:layer8``;
* ``search=unweighted`` (the default: single layers and fixed sets), ``search=weighted``
  (learned softmax-weighted sums of layers only) or ``search=all`` (both);
* ``multitask=gender+intensity`` and ``aux_weight=0.3`` (auxiliary fields);
* ``augment=K`` (K augmented copies of every training clip);
* ``tta=N`` (each test clip also scored as N test-time copies, pooled as ``predict --tta`` does);
* ``pooling=stats`` (heads on each layer's mean and standard deviation over a clip's kept patches) or
  ``pooling=attentive`` (the same statistics weighted by a learned attention over the patches);
* ``finetune=1`` (end-to-end fine-tuning from the chosen layers, augmented every epoch: `ensemble.training.fine_tuning`),
  with ``lr_ratio=R`` (backbone learning rate relative to the heads', default 0.1), ``epochs=N`` (at most N
  epochs, default 20), ``mixup=ALPHA`` (default 0: off) and ``augment=full|mild|off`` (the recipe drawn every
  epoch: gain, shift, noise and SpecAugment; the same without noise; none. With ``finetune=1``, ``augment``
  is about fine-tuning, not cached copies);

each variant after the first is compared with the first (UAR difference per
model, same clips and folds, with a bootstrap interval over speakers). Frozen backbones (heads on
cached embeddings); VGGish is untrained unless weights are found, and marked
so. Cross-corpus rows train on all of one corpus and test on the other over
their shared emotions (`ensemble.training.cross_corpus`).

    .venv/bin/python benchmarks/cross_validation.py --corpora ravdess,emodb --gds on,off --cross-corpus ravdess:emodb,emodb:ravdess
    .venv/bin/python benchmarks/cross_validation.py --models yamnet --fusions late --gds off,0.2,0.3,0.4,0.5,0.6 --cross-corpus ""
    .venv/bin/python benchmarks/cross_validation.py --fusions late --cross-corpus "" \
        --variants "default;layers=last;search=unweighted;search=weighted;multitask=gender+intensity"
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from seraudit.core.paths import shared_dir

SHARED = shared_dir()
CORPORA = {"ravdess": SHARED / "data" / "ravdess", "emodb": SHARED / "data" / "emodb-2s"}
ALL_MODELS = "ensemble,yamnet,vggish,egemaps"


def gds_settings(text: str):
    from seraudit.preprocessing.gds import GdsSettings

    return GdsSettings(False) if text == "off" else GdsSettings(True, None if text == "on" else float(text))


def variant_settings(text: str) -> dict:
    """TrainSettings overrides of one ``--variants`` entry, e.g. ``"search=weighted multitask=gender"``."""
    from seraudit.ensemble.training.settings import parse_layers

    out = {}
    items = text.split()
    fine_tuning = "finetune=1" in items
    for item in items:
        if item == "default":
            continue
        key, _, value = item.partition("=")
        if key == "layers":
            out["layers"] = parse_layers(value)
        elif key == "search":
            out["layer_search"] = value
        elif key == "multitask":
            out["aux_tasks"] = tuple(value.split("+"))
        elif key == "aux_weight":
            out["aux_weight"] = float(value)
        elif key == "augment" and fine_tuning:
            out["fine_tune_augment"] = value
        elif key == "augment":
            out["augment_copies"] = int(value)
        elif key == "finetune":
            out["fine_tune"] = bool(int(value))
        elif key == "lr_ratio":
            out["fine_tune_backbone_lr_ratio"] = float(value)
        elif key == "epochs":
            out["fine_tune_epochs"] = int(value)
        elif key == "mixup":
            out["mixup_alpha"] = float(value)
        elif key == "tta":
            out["tta_copies"] = int(value)
        elif key == "pooling":
            out["pooling"] = value
        else:
            raise SystemExit(f"unknown variant key {key!r} in {text!r}: use layers, search, multitask, aux_weight, augment, "
                             "tta, pooling, finetune, lr_ratio, epochs, mixup")
    tuning_keys = {"fine_tune_backbone_lr_ratio", "fine_tune_epochs", "mixup_alpha"}
    if tuning_keys & set(out) and not out.get("fine_tune"):
        raise SystemExit(f"variant {text!r}: lr_ratio, epochs and mixup apply with finetune=1 only")
    return out


def aux_lines(results: dict, variant: str) -> list[str]:
    return [f"  [{results['corpus_display']}] {variant}: {m['display_name']} {task} UAR {e['uar']['mean']:.1f} ± "
            f"{e['uar']['std']:.1f}" for m in results["models"].values() for task, e in m.get("aux", {}).items()]


def table_rows(results: dict, fusion: str, gds_label: str, seconds: float, layers: str = "default") -> list[tuple]:
    nan = {"mean": float("nan"), "std": float("nan")}
    return [
        (results["corpus_display"], layers, m["display_name"], fusion if name == "ensemble" else "-", gds_label,
         m["uar"], m["accuracy"], m["macro_f1"], m.get("top2_accuracy", nan), results.get("gds_kept_fraction", float("nan")),
         seconds)
        for name, m in results["models"].items()
    ]


def paired_difference(a, b, model: str, n_boot: int) -> str:
    """UAR of `model` in run `b` minus in run `a` (same clips, same folds), with a bootstrap interval over speakers."""
    from seraudit.ensemble.evaluation.comparison import bootstrap_uar_difference

    pa, pb = a[a["model"] == model].sort_values("path"), b[b["model"] == model].sort_values("path")
    labels = sorted(set(pa["label"]))
    index = {lab: i for i, lab in enumerate(labels)}
    y = pa["label"].map(index).to_numpy()
    diff = bootstrap_uar_difference(y, pb["prediction"].map(index).to_numpy(), pa["prediction"].map(index).to_numpy(),
                                    pa["speaker"].to_numpy(), n_boot=n_boot)
    return f"{diff['difference']:+.1f} [{diff['ci_low']:+.1f}, {diff['ci_high']:+.1f}]"


def fine_tune_lines(results: dict, variant: str) -> list[str]:
    """Per model: seconds of fine-tuning per fold and the epochs it ran and kept (best), when the variant fine-tunes."""
    lines = []
    for key in sorted({k for h in results.get("cv_histories", []) for k in h if k.endswith("_fine_tune")}):
        runs = [h[key] for h in results["cv_histories"] if key in h]
        seconds = [r["seconds"] for r in runs]
        lines.append(f"  [{results['corpus_display']}] {variant}: {key.removesuffix('_fine_tune')} fine-tuning "
                     f"{np.mean(seconds):.0f} s per fold ({min(seconds):.0f}-{max(seconds):.0f}), epochs run "
                     f"{[r['epochs_run'] for r in runs]}, best epochs {[r['best_epoch'] for r in runs]}")
    return lines


def print_comparisons(results: dict, gds_label: str) -> None:
    for c in results["comparisons"]:
        print(f"  [{results['corpus_display']}, {gds_label}] {c['a_display']} vs {c['b_display']}: "
              f"{c['uar_difference']:+.1f} [{c['ci_low']:+.1f}, {c['ci_high']:+.1f}] p={c['p_value']:.3g}", flush=True)


def print_table(rows: list[tuple]) -> None:
    cwidth = max([len(r[0]) for r in rows] + [6])
    lwidth = max([len(r[1]) for r in rows] + [6])
    width = max([len(r[2]) for r in rows] + [5])
    head = (f"{'corpus':<{cwidth}} {'variant':<{lwidth}} {'model':<{width}} {'fusion':<8} {'GDS':<8} {'UAR %':>12} "
            f"{'acc. %':>12} {'macro-F1 %':>12} {'top-2 %':>12} {'kept':>5} {'run s':>6}")
    print(head)
    print("-" * len(head))
    for corpus, layers, model, fusion, gds, uar, acc, f1, top2, kept, sec in rows:
        cells = [f"{x['mean']:.1f} ± {x['std']:.1f}" for x in (uar, acc, f1, top2)]
        print(f"{corpus:<{cwidth}} {layers:<{lwidth}} {model:<{width}} {fusion:<8} {gds:<8} {cells[0]:>12} {cells[1]:>12} "
              f"{cells[2]:>12} {cells[3]:>12} {kept:>5.2f} {sec:>6.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", default="ravdess,emodb", help="within-corpus cross-validation ('' for none)")
    parser.add_argument("--models", default=ALL_MODELS, help="models of the first fusion; later fusions add the ensemble only")
    parser.add_argument("--fusions", default="late,feature")
    parser.add_argument("--gds", default="on", help="comma-separated: on (default threshold), off, or thresholds e.g. 0.3")
    parser.add_argument("--cross-corpus", default="ravdess:emodb,emodb:ravdess", help="TRAIN:TEST pairs ('' for none)")
    parser.add_argument("--models-dir", default=str(SHARED / "models"))
    parser.add_argument("--max-clips", type=int, default=None)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--variants", default="default", help="';'-separated training variants (see the module docstring)")
    args = parser.parse_args()

    from seraudit.ensemble.training.cross_corpus import run_cross_corpus
    from seraudit.ensemble.training.experiment import run_experiment
    from seraudit.ensemble.training.settings import TrainSettings

    models = [m for m in args.models.split(",") if m]
    variants = [text.strip() or "default" for text in args.variants.split(";")]

    def settings(corpus: str, fusion: str, gds, run_models: list[str], variant: str = "default") -> TrainSettings:
        return TrainSettings(corpus=corpus, data=str(CORPORA[corpus]), models=run_models, fusion=fusion, gds=gds,
                             models_dir=args.models_dir, allow_untrained=("vggish",), download=False,
                             max_clips=args.max_clips, n_boot=args.bootstrap, progress=False, **variant_settings(variant))

    rows = []
    for gds_text in args.gds.split(","):
        gds = gds_settings(gds_text)
        for k, fusion in enumerate(args.fusions.split(",")):
            run_models = models if k == 0 else ["ensemble"]
            if k and "ensemble" not in models:
                continue
            for corpus in [c for c in args.corpora.split(",") if c]:
                first = None
                for variant in variants:
                    start = time.perf_counter()
                    results = run_experiment(settings(corpus, fusion, gds, run_models, variant), out=None, final=False)
                    rows += table_rows(results, fusion, gds.label(), time.perf_counter() - start, variant)
                    print_comparisons(results, gds.label())
                    print("\n".join(aux_lines(results, variant) + fine_tune_lines(results, variant)), flush=True)
                    if first is None:
                        first = (variant, results["predictions"])
                    else:
                        for model in run_models:
                            print(f"  [{corpus}] {model}: {variant} vs {first[0]}: UAR "
                                  f"{paired_difference(first[1], results['predictions'], model, args.bootstrap)}", flush=True)
                    print(f"  done {corpus} {fusion} {gds.label()} {variant} in {time.perf_counter() - start:.0f} s",
                          flush=True)
            for pair in [p for p in args.cross_corpus.split(",") if p]:
                train_corpus, test_corpus = pair.split(":")
                start = time.perf_counter()
                results = run_cross_corpus(settings(train_corpus, fusion, gds, run_models), test_corpus, str(CORPORA[test_corpus]))
                rows += table_rows(results, fusion, gds.label(), time.perf_counter() - start)
                print_comparisons(results, gds.label())
                print(f"  done {pair} {fusion} {gds.label()} ({', '.join(results['shared_labels'])}) in "
                      f"{time.perf_counter() - start:.0f} s", flush=True)
    print_table(rows)


if __name__ == "__main__":
    main()
