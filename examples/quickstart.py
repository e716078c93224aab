# %% [markdown]
# # SERAudit quickstart
#
# Train YAMNet on a small slice of RAVDESS (speaker-independent folds), explain one clip,
# audit two and write the HTML report. A percent-format notebook: open it in Jupyter
# (jupytext, VS Code) or run it as a script, `python examples/quickstart.py`.
#
# The corpus comes from `SERAUDIT_DATA` (default `../shared/data/ravdess`), the backbone
# weights from `SERAUDIT_MODELS_DIR` (or the cache / a download); everything is written under
# `SERAUDIT_QUICKSTART_OUT` (default `runs/quickstart`).

# %%
import os
from pathlib import Path

import seraudit as sa

DATA = Path(os.environ.get("SERAUDIT_DATA", "../shared/data/ravdess"))
OUT = Path(os.environ.get("SERAUDIT_QUICKSTART_OUT", "runs/quickstart"))
CLIPS = int(os.environ.get("SERAUDIT_QUICKSTART_CLIPS", "24"))  # a quick slice, spread over speakers

# %% Train, or add "vggish" with allow_untrained=["vggish"] where its weights are missing.
run = sa.train("ravdess", DATA, OUT / "run", models=["yamnet"], max_clips=CLIPS, progress=False)
run

# %% One clip, cut with the run's own GDS threshold: the model's prediction, then its explanations.
paths = sorted(run.predictions["path"].unique())[:2]
clip = run.clip(paths[0])
model = run.model("yamnet")
model.predict_clip(clip)

# %%
maps = sa.explain(model, clip, ["gradcam", "occlusion"])
maps["gradcam"]

# %% Audit two clips (maps, listenable renders, faithfulness, checks), then the report.
audit = sa.audit(run, paths, methods=["gradcam"], out=OUT / "audit", progress=False)
audit

# %%
page = sa.report(run, audit, OUT / "report")
print(f"report: {page}")
