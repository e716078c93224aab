"""Auditing clips: every model x method leaves maps, sounds, pictures and metrics; a bad clip never stops the batch."""

from __future__ import annotations

import json

import matplotlib.pyplot as plt
import numpy as np
import pytest
import soundfile as sf

from seraudit.core.errors import SerauditError
from seraudit.xai.attribution import Attribution
from seraudit.xai.audit.runner import AuditSettings, parse_methods, run_audit
from seraudit.xai.audit.clip_identity import ClipSpec

LABELS = ["neutral", "happy", "sad", "angry"]
METHODS = ("gradcam", "gradcam++", "occlusion")


@pytest.fixture(scope="module")
def model():
    """A YAMNet-tower model with random weights (marked untrained): enough to exercise every audit step."""
    from seraudit.ensemble.model.graph import build_model
    from seraudit.ensemble.model.trained import TrainedModel

    built = build_model({"name": "yamnet", "head": {}}, n_classes=len(LABELS))
    return TrainedModel(
        name="yamnet", keras_model=built.keras_model, labels=LABELS, conv_layers=built.conv_layers,
        embedding_layers=built.embedding_layers, branch_untrained={"yamnet": True}, fusion=None,
    )


@pytest.fixture(scope="module")
def audited(model, ravdess_clips, tmp_path_factory):
    out = tmp_path_factory.mktemp("audit")
    broken = out.parent / "broken.wav"
    broken.write_bytes(b"not audio at all")
    specs = [ClipSpec(str(ravdess_clips[0]), "neutral", "ravdess_01"), ClipSpec(str(broken)),
             ClipSpec(str(ravdess_clips[5]), "angry", "ravdess_01")]
    settings = AuditSettings(methods=METHODS, probe=False, faithfulness_steps=5, faithfulness_random=1)
    index = run_audit([model], specs, out, settings, progress=False)
    return out, index, specs, settings


def test_each_clip_model_and_method_leaves_map_sounds_overlay_and_metrics(audited):
    out, index, specs, _ = audited
    assert [c["path"] for c in index["clips"]] == [specs[0].path, specs[2].path]
    for entry in index["clips"]:
        record = json.loads((out / entry["dir"] / "clip.json").read_text())
        assert set(record["methods"]["yamnet"]) == set(METHODS)
        for method, rec in record["methods"]["yamnet"].items():
            base = out / entry["dir"]
            attribution = Attribution.load(base / rec["attribution"])
            assert attribution.method == method and attribution.clip_map.shape[1] == 64
            for kind in ("listened", "ignored"):
                audio, rate = sf.read(base / rec[kind])
                assert rate == 16000 and audio.size > 0 and np.abs(audio).max() <= 1.0
            assert (base / rec["overlay"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
            metrics = rec["metrics"]
            for key in ("deletion_auc", "insertion_auc", "random_deletion_auc", "seconds"):
                assert np.isfinite(metrics[key]), (method, key)
            assert 0.0 <= metrics["deletion_auc"] <= 1.0 and 0.0 <= metrics["insertion_auc"] <= 1.0
            curves = rec["curves"]
            assert len(curves["fractions"]) == len(curves["deletion"]) == 6  # 5 steps
            assert np.trapezoid(curves["deletion"], curves["fractions"]) == pytest.approx(metrics["deletion_auc"])
        base = out / entry["dir"]
        for figure in (record["time_profile"]["yamnet"], record["faithfulness_curves"]["yamnet"]):
            image = plt.imread(base / figure)  # one summary figure per model: time profiles, faithfulness curves
            assert image.ndim == 3 and image.shape[0] > 100
        assert abs(sum(record["predictions"]["yamnet"]["probabilities"].values()) - 1.0) < 1e-5
        agreement = record["agreement"]["yamnet"]
        assert agreement["methods"] == list(METHODS) and agreement["matrix"][0][0] == pytest.approx(1.0)


def test_a_broken_clip_is_recorded_and_the_batch_goes_on(audited):
    out, index, specs, _ = audited
    assert len(index["failures"]) == 1
    failure = index["failures"][0]
    assert failure["clip"] == specs[1].path and "broken.wav" in failure["error"]
    assert not list((out / "clips").glob("broken*")), "a failed clip must leave no folder behind"
    assert not list(out.rglob("*.part")), "no temporary files may remain"


def test_summary_and_metrics_files_cover_every_model_and_method(audited):
    out, index, _, _ = audited
    assert set(index["summary"]["yamnet"]) == set(METHODS)
    assert index["summary"]["yamnet"]["gradcam"]["n_clips"] == 2
    rows = json.loads((out / "metrics.json").read_text())["rows"]
    assert len(rows) == 2 * len(METHODS)
    assert index["models"]["yamnet"]["display_name"] == "YAMNet (untrained)"


def test_second_run_reuses_the_audited_clips(audited, model):
    out, _, specs, settings = audited
    record = out / "clips" / json.loads((out / "audit.json").read_text())["clips"][0]["dir"].split("/")[-1] / "clip.json"
    before = record.stat().st_mtime_ns
    index = run_audit([model], specs, out, settings, progress=False)
    assert index["reused"] == 2 and record.stat().st_mtime_ns == before


def test_unknown_method_names_the_choices():
    with pytest.raises(SerauditError, match="unknown method.*'shap'.*gradcam"):
        parse_methods("gradcam,shap")
    assert parse_methods("gradcam,probe,lime") == (("gradcam", "lime"), True)


def test_an_audit_of_a_run_cuts_clips_with_the_runs_gds_threshold(model, tmp_path, monkeypatch):
    import pandas as pd

    from seraudit.ensemble.run import Run, write_run
    from seraudit.preprocessing import pipeline

    run = Run.open(write_run(tmp_path / "run", {"gds": {"enabled": False}}, {}, pd.DataFrame({"path": []}), {}, {},
                             LABELS, None))
    clip = tmp_path / "a.wav"
    clip.write_bytes(b"")
    asked = []

    def clip_features(path, gds_threshold):
        asked.append(gds_threshold)
        raise SerauditError(f"{path}: stop here")

    monkeypatch.setattr(pipeline, "clip_features", clip_features)
    index = run_audit([model], [ClipSpec(str(clip))], tmp_path / "audit", AuditSettings(methods=("gradcam",)),
                      run=run, progress=False)
    assert asked == [float("-inf")]  # trained without GDS: every patch counts, as in `seraudit predict`
    assert index["run"] == str(run.path) and index["failures"][0]["error"].endswith("stop here")


def test_the_files_training_left_out_reach_the_audits_failures_check(model, tmp_path):
    """The run's failures.csv is read through `Run` and counted in the verdict with the audit's own."""
    import pandas as pd

    from seraudit.ensemble.run import Run, write_run

    left_out = [{"clip": "/data/a.wav", "error": "no speech detected", "stage": "training"}]
    run = Run.open(write_run(tmp_path / "run", {}, {}, pd.DataFrame({"path": []}), {}, {}, LABELS, None,
                             failures=left_out))
    index = run_audit([model], [], tmp_path / "audit", AuditSettings(methods=("gradcam",)), run=run, progress=False)
    check = next(c for c in index["checks"] if c["id"] == "unusable_files")
    assert (check["status"], check["value"]) == ("warn", 1.0)


def test_a_clip_listed_twice_is_computed_once_and_listed_twice(model, ravdess_clips, tmp_path):
    spec = ClipSpec(str(ravdess_clips[0]), "neutral", "ravdess_01")
    settings = AuditSettings(methods=("gradcam",), probe=False, faithfulness_steps=2, faithfulness_random=1)
    index = run_audit([model], [spec, spec], tmp_path / "audit", settings, progress=False)
    assert [c["path"] for c in index["clips"]] == [spec.path, spec.path]
    assert index["reused"] == 1 and not index["failures"]
    assert len(list((tmp_path / "audit" / "clips").iterdir())) == 1


def test_audit_json_holds_the_verdict_and_each_clip_its_patches_and_keep_mask(audited):
    out, index, specs, _ = audited
    saved = json.loads((out / "audit.json").read_text())
    checks = {c["name"]: c for c in saved["checks"]}
    assert checks == {c["name"]: c for c in index["checks"]}
    assert checks["untrained backbones"]["status"] == "warn"  # the model's YAMNet has random weights
    assert checks["files that could not be used"]["figure"] == "1 file"  # the broken clip
    assert checks["files that could not be used"]["value"] == 1.0
    assert saved["status"] in ("warn", "fail")  # the worst check's
    not_run = [c for name, c in checks.items() if name.startswith("model-randomisation check")]
    assert not_run and all(c["status"] == "warn" for c in not_run)  # not run in this audit
    assert any(name.startswith("gradcam beats its random baseline on deletion") for name in checks)
    for entry in index["clips"]:
        from seraudit.preprocessing.pipeline import clip_features

        record = json.loads((out / entry["dir"] / "clip.json").read_text())
        features = clip_features(entry["path"])
        patches = record["patches"]
        assert patches["start_s"] == pytest.approx(features.patches.start_s.tolist())
        assert patches["end_s"] == pytest.approx(features.patches.end_s.tolist())
        assert patches["keep"] == features.selection.keep.tolist() and any(patches["keep"])


def test_settings_have_no_shared_default_and_never_change_once_built():
    import dataclasses
    import inspect

    assert inspect.signature(run_audit).parameters["settings"].default is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        AuditSettings().seed = 1


def test_model_randomisation_on_the_first_clips_keeps_its_numbers_and_joins_the_metrics(tone_model, tone_clip,
                                                                                        speech_wav, tmp_path):
    from seraudit.xai.explainers.registry import make_explainer
    from seraudit.xai.metrics.sanity import model_randomisation

    settings = AuditSettings(methods=("gradcam", "gradcam++"), probe=False, faithfulness_steps=2,
                             faithfulness_random=1, sanity_clips=1, sanity_blocks=1)
    index = run_audit([tone_model], [ClipSpec(str(speech_wav))], tmp_path / "audit", settings,
                      load_features=lambda _path: tone_clip, progress=False)
    record = json.loads((tmp_path / "audit" / index["clips"][0]["dir"] / "clip.json").read_text())
    target = record["methods"]["ensemble"]["gradcam"]["target"]
    table = model_randomisation(tone_model, {m: make_explainer(m) for m in settings.methods}, tone_clip, target,
                                n_blocks=1, seed=0)
    last = table[table.stage == table.stage.max()].set_index("method")["similarity"]
    rows = {r["method"]: r for r in index["sanity"]["rows"]}
    cells = index["metrics"]["model_randomisation"]["summary"]["ensemble"]
    for method in settings.methods:
        assert rows[method]["similarity"] == pytest.approx(last[method]) and rows[method]["n_clips"] == 1
        assert cells[method]["value"] == pytest.approx(last[method]) and cells[method]["n_clips"] == 1
    assert [s["similarity"] for s in index["sanity"]["stages"]] == pytest.approx(
        table.groupby(["method", "stage"])["similarity"].mean().tolist())
    checks = {c["name"]: c for c in index["checks"]}
    randomised = checks["gradcam changes when Ensemble is randomised"]
    assert randomised["evidence"] == "index.html#metric-model_randomisation"  # the report's section of that metric
    assert not any(name.startswith("model-randomisation check") for name in checks)


def test_model_randomisation_compares_with_the_maps_the_audit_saved(tone_model, tone_clip, speech_wav, tmp_path):
    """The check asks whether *the audit's* maps depend on the weights: it reads them, it does not redraw them."""
    from seraudit.xai.attribution import Attribution

    settings = AuditSettings(methods=("gradcam",), probe=False, faithfulness_steps=2, faithfulness_random=1,
                             sanity_clips=1, sanity_blocks=1)

    def head_stage(index):
        return next(s["similarity"] for s in index["sanity"]["stages"] if s["stage"] == 0)

    audit = tmp_path / "audit"
    first = run_audit([tone_model], [ClipSpec(str(speech_wav))], audit, settings,
                      load_features=lambda _path: tone_clip, progress=False)
    record = json.loads((audit / first["clips"][0]["dir"] / "clip.json").read_text())
    saved = audit / first["clips"][0]["dir"] / record["methods"]["ensemble"]["gradcam"]["attribution"]
    attribution = Attribution.load(saved)
    noise = np.random.default_rng(5).random(np.shape(attribution.clip_map))
    Attribution(**{**vars(attribution), "clip_map": noise}).save(saved)  # the map on disk is now unrelated noise
    second = run_audit([tone_model], [ClipSpec(str(speech_wav))], audit, settings,
                       load_features=lambda _path: tone_clip, progress=False)
    assert abs(head_stage(second)) < 0.1  # compared with the saved map (noise: no rank in common), not a fresh one
    assert head_stage(first) > head_stage(second) + 0.1


def test_the_index_says_when_which_version_wrote_it_and_every_setting(audited):
    import re

    from seraudit import __version__

    out, index, _, settings = audited
    saved = json.loads((out / "audit.json").read_text())
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", saved["created"])
    assert saved["software"]["seraudit"] == __version__ and "commit" in saved["software"]
    assert saved["settings"] == {**settings.key(), "sanity_clips": settings.sanity_clips,
                                 "sanity_blocks": settings.sanity_blocks}  # the cache key leaves the sanity ones out


def test_numpy_blas_runs_on_one_thread_while_a_clip_is_audited_and_the_callers_setting_returns(
        model, ravdess_clips, tmp_path, monkeypatch):
    """TensorFlow's passes hold every core; BLAS threads woken beside them would only spin (`core.threads`)."""
    from threadpoolctl import threadpool_info, threadpool_limits

    from seraudit.xai.audit import runner

    def blas_threads():
        return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}

    seen = []
    compute = runner.audit_clip

    def watched(*args, **kwargs):
        seen.append(blas_threads())
        return compute(*args, **kwargs)

    monkeypatch.setattr(runner, "audit_clip", watched)
    settings = AuditSettings(methods=("gradcam",), probe=False, faithfulness_steps=2, faithfulness_random=1)
    with threadpool_limits(limits=2, user_api="blas"):
        index = run_audit([model], [ClipSpec(str(ravdess_clips[0]))], tmp_path, settings, progress=False)
        after = blas_threads()
    assert not index["failures"]
    assert seen == [{1}]
    assert after == {2}
