"""What the decision uses, added to a finished audit: verified interventions, encoded x used, the shortcut battery.

The maps say where a model listened and probing what its embeddings encode; this stage
asks what the *decision* follows. It runs on the audited clips with the same held-out
fold models (each clip by the model of the fold that never saw its speaker) and writes
into the audit folder:

* ``AUDIT/interventions/`` (``interventions.json`` and the accepted variants' audio) and
  ``audit.json["interventions"]`` (`xai.interventions.stage.run_interventions`), with audio
  paths relative to the audit folder;
* ``audit.json["encoded_used"]``: per model and eGeMAPS group, encoded (probing above its
  random-network control) x used (an intervention moves the decision beyond identity
  resynthesis), `xai.interventions.encoded_used.encoded_used_table`;
* ``audit.json["shortcuts"]``: the battery (`xai.shortcuts`), laid out as its checks'
  ``evidence_audit`` pointers expect (``edits/<model>/<edit>``, ``speaker/<model>/{probe,
  normalised}``, ``lexical/<model>/{probe,uar}``), and its checks appended to the verdict,
  whose overall status is taken again.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Sequence

from seraudit.core.io import write_json
from seraudit.xai.audit.checks import overall_status
from seraudit.xai.audit.folder import AUDIT_INDEX, read_audit_index

INTERVENTIONS_DIR = "interventions"
SHORTCUT_PREFIX = "shortcut."
_PARTS = {"speaker_probe": ("speaker", "probe"), "speaker_norm": ("speaker", "normalised"),
          "lexical_probe": ("lexical", "probe"), "lexical_uar": ("lexical", "uar")}


def shortcut_section(run, paths: Sequence[str], models: Sequence[str], *,
                     models_dir: str | None = None) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(``audit.json["shortcuts"]``, the battery's verdict checks) for `models` of `run` on the audited `paths`."""
    from seraudit.xai.shortcuts.battery import edit_battery
    from seraudit.xai.shortcuts.features import run_features
    from seraudit.xai.shortcuts.lexical import lexical_checks
    from seraudit.xai.shortcuts.speaker import speaker_checks

    battery = edit_battery(run, list(paths), list(models))
    features = run_features(run, list(models), models_dir=models_dir)
    corpus_checks = [*speaker_checks(run, list(models), features=features),
                     *lexical_checks(run, list(models), features=features)]
    section: dict[str, Any] = {"edits": {}, "speaker": {}, "lexical": {}, "rule": battery.get("rule"),
                               "null_edit": battery.get("null_edit"), "failures": battery.get("failures", [])}
    for item in battery["checks"]:
        section["edits"].setdefault(item["model"], {})[item["edit"]] = item
    for item in corpus_checks:
        kind = item["id"].split(".")[1]
        group, part = _PARTS[kind]
        section[group].setdefault(item["model"], {})[part] = item
    checks = [{k: v for k, v in item.items() if k != "clips"} for item in [*battery["checks"], *corpus_checks]]
    return section, checks


def relative_audio(result: dict[str, Any], prefix: str) -> dict[str, Any]:
    """`run_interventions`' result with every audio path made relative to the audit folder (`prefix` + path)."""
    for clip in result.get("clips", []):
        clip["audio"] = {k: f"{prefix}/{v}" for k, v in (clip.get("audio") or {}).items() if v}
        for variant in clip.get("variants", []):
            if variant.get("audio"):
                variant["audio"] = f"{prefix}/{variant['audio']}"
    return result


def add_model_use(audit_dir: str | os.PathLike, run, paths: Sequence[str], models: Sequence[str], *,
                  interventions: bool = True, cache_dir: str | os.PathLike | None = None,
                  models_dir: str | None = None, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the interventions (unless `interventions` is False) and the shortcut battery; update ``audit.json``.

    Returns the updated index. A clip that cannot be resynthesised or edited is recorded in
    the stage's own ``failures``; the audit keeps every clip it had.
    """
    from seraudit.xai.interventions.encoded_used import encoded_used_table
    from seraudit.xai.interventions.stage import run_interventions

    audit_dir = Path(audit_dir)
    index = read_audit_index(audit_dir)
    if interventions:
        result = run_interventions(run, list(paths), list(models), out=audit_dir / INTERVENTIONS_DIR,
                                   cache_dir=cache_dir, log=log)
        index["interventions"] = relative_audio(result, INTERVENTIONS_DIR)
        index["encoded_used"] = encoded_used_table(result, index.get("probing") or {})
    else:
        index.pop("interventions", None)
        index.pop("encoded_used", None)
    section, checks = shortcut_section(run, paths, models, models_dir=models_dir)
    index["shortcuts"] = section
    index["checks"] = [c for c in index.get("checks", []) if not str(c.get("id", "")).startswith(SHORTCUT_PREFIX)]
    index["checks"] += checks
    index["status"] = overall_status(index["checks"])
    write_json(audit_dir / AUDIT_INDEX, index)
    return index
