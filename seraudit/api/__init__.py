"""SERAudit as a library: train a run, open it, explain a clip, audit clips, write the report.

The layer between `seraudit.reports` and `seraudit.cli`: every command parses its
flags, calls one of these functions and prints what it returns. `import seraudit as sa`
loads this package on the first use of one of its names (``seraudit.__getattr__``), so
importing `seraudit` alone never starts TensorFlow.

    run = sa.train("ravdess", data, "runs/r", allow_untrained=["vggish"], max_clips=24)
    maps = sa.explain(run.model("ensemble"), run.clip(path), ["gradcam"])
    audit = sa.audit(run, per_emotion=1, methods=["gradcam"])
    page = sa.report(run, audit)
    effects = sa.intervene(run, [path], out="interventions/")

Errors speak of these functions' arguments (`data`, `allow_untrained`); the command line
names its flags instead (`seraudit.cli.flags`).
"""

from seraudit.api.auditing import Audit, audit
from seraudit.api.explaining import explain
from seraudit.api.intervening import intervene
from seraudit.api.main_job import MainJob, main_job
from seraudit.api.reporting import report
from seraudit.api.runs import open_run, train

__all__ = ["Audit", "MainJob", "audit", "explain", "intervene", "main_job", "open_run", "report", "train"]
