"""What the decision uses, added to an audit: interventions, encoded x used and the shortcut battery land in audit.json.

A synthetic corpus (3 speakers x 3 emotions x 2 harmonic tones with a pitch Praat can track) is
trained once with YAMNet; two clips are audited with Grad-CAM, then `add_model_use` runs.
"""

from __future__ import annotations

import json

import pytest

from tests.xai.audit.test_held_out import write_tone_corpus


@pytest.fixture(scope="module")
def audited(tmp_path_factory, models_dir):
    import seraudit as sa

    root = tmp_path_factory.mktemp("model-use")
    rows = write_tone_corpus(root, seconds=1.6)
    run = sa.train("manifest", root / "manifest.csv", root / "run", models=["yamnet"], models_dir=str(models_dir),
                   download=False, progress=False, cache_dir=str(root / "cache"), n_boot=20)
    paths = [rows[0]["path"], rows[-1]["path"]]
    audit = sa.audit(run, paths, out=root / "audit", methods="gradcam", models=["yamnet"], fast=True, progress=False)
    return run, audit, paths, root


def test_interventions_and_the_shortcut_battery_join_the_audit_and_its_verdict(audited, models_dir):
    from seraudit.xai.audit.checks import overall_status
    from seraudit.xai.audit.model_use import add_model_use

    run, audit, paths, root = audited
    before = json.loads((audit.path / "audit.json").read_text())
    index = add_model_use(audit.path, run, paths, ["yamnet"], cache_dir=root / "synthesis", models_dir=str(models_dir))
    on_disk = json.loads((audit.path / "audit.json").read_text())
    assert on_disk == json.loads(json.dumps(index))

    # Interventions: every clip, identity resynthesis as the control, audio paths that open from the audit folder.
    interventions = index["interventions"]
    assert sorted(c["path"] for c in interventions["clips"]) == sorted(paths)
    accepted = [v for c in interventions["clips"] for v in c["variants"] if v["accepted"]]
    assert accepted and all((audit.path / v["audio"]).is_file() for v in accepted)
    assert all(c["predictions"]["yamnet"]["explained_by"] for c in interventions["clips"])
    assert {row["model"] for row in index["encoded_used"]} == {"yamnet"}

    # The battery: one check per edit, laid out where each check's evidence pointer says.
    edits = index["shortcuts"]["edits"]["yamnet"]
    assert {"telephone", "pad_silence", "trim_silence", "gain_up", "gain_down"} <= set(edits)
    shortcut_checks = [c for c in index["checks"] if c["id"].startswith("shortcut.")]
    assert {c["id"] for c in shortcut_checks} >= {f"shortcut.{e}.yamnet" for e in edits}
    for check in shortcut_checks:
        node = index
        for key in check["evidence_audit"].split("#", 1)[-1].strip("/").split("/"):
            node = node[key]
        assert node["id"] == check["id"]
    # The checks the audit had are kept, and the overall status is taken over all of them again.
    assert [c["id"] for c in index["checks"] if not c["id"].startswith("shortcut.")] == [c["id"] for c in before["checks"]]
    assert index["status"] == overall_status(index["checks"])

    # Without interventions the stage drops them and keeps the battery.
    again = add_model_use(audit.path, run, paths, ["yamnet"], interventions=False, models_dir=str(models_dir))
    assert "interventions" not in again and again["shortcuts"]["edits"]["yamnet"]
    assert len([c for c in again["checks"] if c["id"].startswith("shortcut.")]) == len(shortcut_checks)
