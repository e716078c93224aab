"""The Python API as a notebook user meets it: `import seraudit as sa`, a run's clips, its errors.

The end-to-end path (train, explain, audit, report) runs in tests/test_examples.py; the
main job through its command in tests/cli/test_audit_all.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from seraudit.core.errors import SerauditError


def python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)


def test_import_seraudit_loads_neither_the_api_nor_tensorflow_until_a_name_is_used():
    done = python(
        "import sys, seraudit as sa\n"
        "assert 'seraudit.api' not in sys.modules, 'the API was loaded by import seraudit'\n"
        "sa.open_run\n"
        "assert 'seraudit.api' in sys.modules and 'tensorflow' not in sys.modules\n"
        "assert {'train', 'open_run', 'explain', 'audit', 'report', 'main_job'} <= set(dir(sa))\n"
        "try:\n    sa.no_such_name\nexcept AttributeError as e:\n    print(e)\n"
    )
    assert done.returncode == 0, done.stderr
    assert "no attribute 'no_such_name'" in done.stdout


def test_the_api_names_are_the_library_functions():
    import seraudit as sa
    from seraudit.api import auditing, intervening, runs

    assert sa.open_run is runs.open_run and sa.audit is auditing.audit and sa.Audit is auditing.Audit
    assert sa.intervene is intervening.intervene


# --------------------------------------------------------------------------- a run's clips


def write_run_folder(path: Path, gds: dict) -> Path:
    """The four records `Run.open` needs, with the GDS setting the run was trained with."""
    path.mkdir(parents=True)
    (path / "run.json").write_text(json.dumps({"gds": gds, "settings": {"corpus": "ravdess"}}))
    (path / "folds.json").write_text("{}")
    (path / "results.json").write_text("{}")
    (path / "predictions.csv").write_text("path,model,label,prediction,speaker,fold\n")
    return path


@pytest.fixture(scope="module")
def partly_silent_clip(ravdess_clips):
    """A RAVDESS clip of which the default GDS threshold keeps some patches, not all and not just one."""
    from seraudit.preprocessing.pipeline import clip_features

    for path in ravdess_clips:
        kept = int(clip_features(path).selection.keep.sum())
        if 1 < kept < len(clip_features(path).selection.keep):
            return path
    pytest.fail("no RAVDESS clip with a partial GDS selection")


@pytest.mark.parametrize("gds, expected", [({"enabled": False}, "all"), ({"enabled": True, "threshold": 1.0}, "one")])
def test_a_run_cuts_a_clip_with_its_own_gds_threshold(tmp_path, partly_silent_clip, gds, expected):
    """A run trained without GDS pools every patch; one trained with a threshold of 1 only the best one (its fallback)."""
    import seraudit as sa
    from seraudit.preprocessing.pipeline import clip_features

    run = sa.open_run(write_run_folder(tmp_path / "run", gds))
    keep = run.clip(partly_silent_clip).selection.keep
    default = clip_features(partly_silent_clip).selection.keep
    assert keep.sum() == (len(keep) if expected == "all" else 1)
    assert not np.array_equal(keep, default)
    with pytest.raises(TypeError):  # the threshold is the run's: not an option
        run.clip(partly_silent_clip, gds_threshold=0.0)


def test_explain_refuses_a_file_and_says_to_load_it_with_the_run(tmp_path):
    import seraudit as sa

    with pytest.raises(SerauditError, match=r"run\.clip\(path\)"):
        sa.explain(object(), tmp_path / "clip.wav", ["gradcam"])


def test_an_audit_takes_clips_or_a_number_per_emotion(tmp_path):
    import seraudit as sa

    run = sa.open_run(write_run_folder(tmp_path / "run", {"enabled": True}))
    for clips, per_emotion in ((None, None), (["a.wav"], 1)):
        with pytest.raises(SerauditError, match="either as `clips`.*or as `per_emotion`"):
            sa.audit(run, clips, per_emotion=per_emotion)


# --------------------------------------------------------------------------- errors: arguments here, flags there


def library_errors(tmp_path) -> list[str]:
    import seraudit as sa

    messages = []
    run = sa.open_run(write_run_folder(tmp_path / "run", {"enabled": True}))
    for call in (
        lambda: sa.train("ravdess", tmp_path / "nowhere", tmp_path / "out", allow_untrained=["vggish"]),
        lambda: sa.open_run(tmp_path / "no-run"),
        lambda: run.models(["yamnet"]),
        lambda: run.egemaps_model(),
        lambda: sa.audit(run, [], methods="gradcam,nonsense"),
        lambda: sa.train("ravdess", tmp_path, tmp_path / "out", models=["bert"]),
        lambda: run.clip((np.random.default_rng(0).normal(0, 0.1, 16_000), 16_000), require_speech=True),  # noise
    ):
        with pytest.raises(SerauditError) as caught:
            call()
        messages.append(str(caught.value))
    return messages


def test_library_errors_name_arguments_and_files_not_flags(tmp_path):
    messages = library_errors(tmp_path)
    assert [m for m in messages if "--" in m] == []
    assert "pass `data` the ravdess folder" in messages[0] and str(tmp_path / "nowhere") in messages[0]
    assert f'`seraudit.train(..., out="{tmp_path / "no-run"}")`' in messages[1]
    assert "pass `models` with some of those" in messages[2]
    assert "in `methods`" in messages[4] and "in `models`" in messages[5]
    assert "leave `require_speech` off" in messages[6]


def test_the_command_line_writes_those_arguments_as_its_flags(tmp_path):
    from seraudit.cli import build_parser
    from seraudit.cli.flags import parser_flags, with_flags

    flags = parser_flags(build_parser())
    written = [with_flags(m, flags) for m in library_errors(tmp_path)]
    assert "pass --data the ravdess folder" in written[0]
    assert f"`seraudit train ... --out {tmp_path / 'no-run'}`" in written[1]
    assert "pass --models with some of those" in written[2] and "`seraudit train ... --models ... --out" in written[2]
    assert "train with --models ...,egemaps" in written[3]
    assert "in --methods" in written[4] and "in --models" in written[5]
    assert "leave --require-speech off" in written[6]
    assert with_flags("see `model.weights.h5` and `allow_untrained=[\"vggish\", \"yamnet\"]`", flags) == \
        "see `model.weights.h5` and --allow-untrained vggish,yamnet"
    # names the library gives otherwise than the flag (a `RayOptions` field, a `TrainSettings` field)
    assert with_flags("the cluster at `address=h:6379`; leave `address` out; drop it from `aux_tasks`", flags) == \
        "the cluster at --ray-address h:6379; leave --ray-address out; drop it from --multitask"


def test_the_command_line_prints_the_flag(tmp_path):
    """`seraudit explain` on a folder that holds no run: the fix names `seraudit train ... --out`, not a Python call."""
    clip = tmp_path / "clip.wav"
    clip.write_bytes(b"")
    done = subprocess.run([sys.executable, "-m", "seraudit.cli", "explain", str(tmp_path / "no-run"), str(clip),
                           "--out", str(tmp_path / "audit")], capture_output=True, text=True)
    assert done.returncode == 2
    assert f"train one with `seraudit train ... --out {tmp_path / 'no-run'}`" in done.stderr
    assert "seraudit.train(" not in done.stderr
