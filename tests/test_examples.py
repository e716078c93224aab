"""The notebooks under examples/ run as scripts, on a small slice, and leave what they promise."""

from __future__ import annotations

import html
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.slow
def test_the_quickstart_trains_explains_audits_and_writes_the_report(tmp_path, ravdess_dir, models_dir):
    """`python examples/quickstart.py` from a fresh interpreter: the report's index page exists, the run is YAMNet's."""
    out = tmp_path / "quickstart"
    env = {**os.environ, "SERAUDIT_DATA": str(ravdess_dir), "SERAUDIT_MODELS_DIR": str(models_dir),
           "SERAUDIT_CACHE_DIR": str(tmp_path / "cache"), "SERAUDIT_QUICKSTART_OUT": str(out)}
    done = subprocess.run([sys.executable, str(EXAMPLES / "quickstart.py")], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    page = out / "report" / "index.html"
    assert page.is_file() and f"report: {page}" in done.stdout
    assert (out / "run" / "models" / "yamnet").is_dir() and (out / "audit" / "audit.json").is_file()
    from seraudit.api import Audit

    audit = Audit.open(out / "audit")  # the audit the notebook shows: its checks, as audit.json words them
    assert len(audit.clips) == 2 and audit.checks and sum(audit.verdict().values()) == len(audit.checks)
    view = audit._repr_html_()
    assert all(html.escape(c["name"]) in view and html.escape(c["figure"]) in view for c in audit.checks)


def test_every_example_is_a_percent_format_notebook_of_the_api():
    """Each example opens with cells (`# %%`) and reaches the library through `import seraudit as sa` only."""
    examples = sorted(EXAMPLES.glob("*.py"))
    assert examples
    for path in examples:
        text = path.read_text()
        assert text.startswith("# %%") and "import seraudit as sa" in text, path.name
        imports = [line for line in text.splitlines() if line.startswith(("from seraudit", "import seraudit."))]
        assert imports == [], f"{path.name}: {imports}"
