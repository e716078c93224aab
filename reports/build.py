"""Write a report (index, one page per clip, one per model) from saved audit and run artefacts.

Two layouts: a folder of pages with relative links and copied assets (opens offline,
survives being zipped), or one self-contained HTML file with every image and sound
inlined as a ``data:`` URI. Templates autoescape: labels and file names from user
manifests are data, never markup.
"""

from __future__ import annotations

import base64
import functools
import mimetypes
import os
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2
import markupsafe

from seraudit.core.errors import RunError
from seraudit.core.io import atomic_directory
from seraudit.core.naming import slug
from seraudit.ensemble.run import Run
from seraudit.reports.audit_sections import class_maps, clip_waveform
from seraudit.reports.loading import load_report
from seraudit.reports.model import ClipReport, Report
from seraudit.reports.plots import class_maps_png, confusion_matrix_png, probing_heatmap_png, waveform_png
from seraudit.reports.run_reader import run_summary
from seraudit.reports import display, listening, sections
from seraudit.reports.sections import Page, shown
from seraudit.xai.audit.runner import REFERENCE_MODEL

INDEX_PAGE = "index.html"
ASSETS = "assets"
_TEMPLATES = Path(__file__).with_name("templates")
#: Evidence links of checks saved by audits before the metric family, and where that figure is now.
LEGACY_EVIDENCE = {"index.html#sanity": "index.html#metric-model_randomisation"}


def make_environment() -> jinja2.Environment:
    """The Jinja2 environment every page uses: autoescaping on for all templates, strict undefined, and the number
    filters and names of `reports.display` (the one way a figure is printed)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(list(sections.TEMPLATE_DIRS)),  # read now: a section may add its folder
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return display.register(env)


def clip_page(clip: ClipReport) -> str:
    return f"clip-{slug(clip.clip_id)}.html"


def model_page(name: str) -> str:
    return f"model-{slug(name)}.html"


class _Assets:
    """Resolves an audit-relative artefact path to what a page's ``src`` needs."""

    def __init__(self, audit_dir: Path, out_dir: Path, extra_dir: Path, self_contained: bool):
        self.audit_dir = audit_dir.resolve()
        self.out_dir = out_dir
        self.extra_dir = extra_dir
        self.self_contained = self_contained
        self.copied: set[str] = set()

    def _source(self, rel: str) -> Path:
        if rel.startswith("report:"):
            return self.extra_dir / rel.removeprefix("report:")
        path = (self.audit_dir / rel).resolve()
        if not path.is_relative_to(self.audit_dir):
            raise RunError(f"audit artefact {rel!r} points outside the audit folder {self.audit_dir}; re-run `seraudit explain`")
        if not path.is_file():
            raise RunError(
                f"audit artefact {path} is missing; the audit folder {self.audit_dir} is incomplete — "
                "run `seraudit explain` again for this clip"
            )
        return path

    def __call__(self, rel: str) -> str:
        source = self._source(rel)
        if self.self_contained:
            mime = mimetypes.guess_type(source.name)[0] or "application/octet-stream"
            if source.suffix.lower() == ".wav":
                mime = "audio/wav"
            return f"data:{mime};base64,{base64.b64encode(source.read_bytes()).decode('ascii')}"
        name = rel.removeprefix("report:")
        target = self.out_dir / ASSETS / name
        if name not in self.copied:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
            self.copied.add(name)
        return "/".join(quote(part) for part in (ASSETS, *Path(name).parts))


def build_report(report: Report, out_dir: str | os.PathLike, *, self_contained: bool = False) -> Path:
    """Write the report into ``out_dir`` (replaced atomically) and return the index page's path."""
    out_dir = Path(out_dir)
    env = make_environment()
    with atomic_directory(out_dir) as tmp:
        plots_dir = tmp / ".plots"
        figures = _draw_figures(report, plots_dir)
        assets = _Assets(report.audit_dir, tmp, plots_dir, self_contained)
        reference = report.clips[0].reference_model if report.clips else REFERENCE_MODEL
        common: dict[str, Any] = {
            "report": report,
            "asset": assets,
            "reference_title": report.models[reference].title if reference in report.models else reference,
            "clip_labels": _clip_labels,
            "anchor_clip": lambda clip: f"clip-{slug(clip.clip_id)}",
            "anchor_model": lambda name: f"model-{slug(name)}",
            "title_of": functools.partial(_title_of, report),
            "display": report.shown_path,
        }
        if self_contained:
            common.update(
                link_index=lambda: "#index",
                link_clip=lambda clip: f"#clip-{slug(clip.clip_id)}",
                link_model=lambda name: f"#model-{slug(name)}",
                link_evidence=lambda target: "#" + (_evidence(target).split("#", 1)[1] if "#" in target else "index"),
                sid=lambda name, clip: f"{name}-clip-{slug(clip.clip_id)}",
            )
        else:
            common.update(link_index=lambda: INDEX_PAGE, link_clip=clip_page, link_model=model_page,
                          link_evidence=_evidence, sid=lambda name, clip: name)

        def body(template: str, **extra: Any) -> str:
            return env.get_template(template).render(**common, **extra)

        def page(title: str, bodies: list[str], sort: bool) -> str:
            return env.get_template("page.html").render(
                **common,
                page_title=title,
                bodies=[markupsafe.Markup(b) for b in bodies],
                with_sort_script=sort,
                inline_css=(_TEMPLATES / "style.css").read_text(encoding="utf-8") if self_contained else None,
            )

        # the section lists are read at each build, so a section registered after import is shown
        index_body = body("index.html", sections=shown(sections.INDEX_SECTIONS, Page(report, figures)))
        clip_bodies = {c.clip_id: body("clip.html", clip=c, sections=shown(sections.CLIP_SECTIONS, Page(report, figures, c)))
                       for c in report.clips}
        model_bodies = {n: body("model.html", mr=mr, sections=shown(sections.MODEL_SECTIONS, Page(report, figures, mr)))
                        for n, mr in report.model_reports.items()}
        if self_contained:
            html = page(report.title, [index_body, *model_bodies.values(), *clip_bodies.values()], sort=True)
            (tmp / INDEX_PAGE).write_text(html, encoding="utf-8")
        else:
            shutil.copyfile(_TEMPLATES / "style.css", tmp / "style.css")
            (tmp / INDEX_PAGE).write_text(page(report.title, [index_body], sort=True), encoding="utf-8")
            for clip in report.clips:
                (tmp / clip_page(clip)).write_text(
                    page(f"{clip.name} — {report.title}", [clip_bodies[clip.clip_id]], sort=False), encoding="utf-8"
                )
            for name, mr in report.model_reports.items():
                (tmp / model_page(name)).write_text(
                    page(f"{mr.info.title} — {report.title}", [model_bodies[name]], sort=False), encoding="utf-8"
                )
        shutil.rmtree(plots_dir, ignore_errors=True)
    return out_dir / INDEX_PAGE


def write_report(
    run_dir: str | os.PathLike, audit_dir: str | os.PathLike, out_dir: str | os.PathLike, *,
    self_contained: bool = False, title: str | None = None, redact_paths: bool = False,
) -> Path:
    """Read a trained run and its audit folder, write their report into ``out_dir``; returns the index page.

    Paths show relative to the run's corpus folder; `redact_paths` shows file names only.
    """
    report = load_report(run_summary(Run.open(run_dir)), audit_dir, run_dir=str(run_dir), title=title,
                         redact_paths=redact_paths)
    return build_report(report, out_dir, self_contained=self_contained)


def _evidence(target: str) -> str:
    """Where a check's evidence link points: the saved target, or where an older audit's figure moved."""
    return LEGACY_EVIDENCE.get(target, target)


def _title_of(report: Report, name: str, fallback: str = "") -> str:
    """A model's name as every page shows it (the eGeMAPS baseline and backbone keys included): `display.model_title`."""
    return display.model_title(name, report.models, fallback)


def _draw_figures(report: Report, plots_dir: Path) -> dict[str, Any]:
    """Every figure the report draws from saved numbers; values are ``report:`` asset names."""
    figures: dict[str, Any] = {"confusion": {}, "probing": {}, "class_maps": {}, "waveform": {}, "waveform_recomputed": set()}
    confusions = {n: (mr.confusion_labels, mr.confusion) for n, mr in report.model_reports.items() if mr.confusion}
    confusions |= {n: (b.get("confusion_labels", []), b["confusion"]) for n, b in report.baselines.items() if b.get("confusion")}
    for name, (labels, matrix) in confusions.items():
        file = f"confusion-{slug(name)}.png"
        confusion_matrix_png(labels, matrix, _title_of(report, name), plots_dir / file)
        figures["confusion"][name] = f"report:{file}"
    order = list(report.sections.get("recall_labels") or next((m.labels for m in report.models.values() if m.labels), []))

    def in_order(emotions):
        return sorted(emotions, key=lambda e: (order.index(e) if e in order else len(order), str(e)))

    for backbone in dict.fromkeys(r.get("backbone") for r in report.probing_rows if r.get("backbone")):
        file = f"probing-{slug(str(backbone))}.png"
        probing_heatmap_png(report.probing_rows, backbone, f"eGeMAPS probing, {_title_of(report, backbone)}", plots_dir / file,
                            emotions=in_order({str(r.get("emotion")) for r in report.probing_rows}))
        figures["probing"][_title_of(report, backbone)] = f"report:{file}"
    for (model, method), maps in class_maps(report.clips, report.audit_dir).items():
        file = f"class-maps-{slug(model)}-{slug(method)}.png"
        maps = {e: maps[e] for e in in_order(maps)}
        class_maps_png(maps, f"{method}, {_title_of(report, model)}: mean map per emotion explained", plots_dir / file)
        figures["class_maps"][(model, method)] = f"report:{file}"
    corpus = report.sections.get("corpus") or {}
    threshold = corpus.get("gds_threshold") if corpus.get("gds_enabled", True) else float("-inf")
    for clip in report.clips:
        wave = clip_waveform(clip, report.audit_dir, threshold)
        if wave is None:
            continue
        if wave["recomputed"]:
            clip.patches = wave["patches"]
            figures["waveform_recomputed"].add(clip.clip_id)
        file = f"waveform-{slug(clip.clip_id)}.png"
        waveform_png(wave["waveform"], wave["sample_rate"], wave["log_mel"], wave["patches"], clip.name, plots_dir / file)
        figures["waveform"][clip.clip_id] = f"report:{file}"
    figures["bench"] = listening.bench_files(report, plots_dir)  # each clip's listening-bench record and audio
    return figures


def _clip_labels(clip: ClipReport) -> list[str]:
    """Every class any model scored for this clip, in the first model's order."""
    labels: list[str] = []
    for p in clip.predictions.values():
        for label in p.probabilities:
            if label not in labels:
                labels.append(label)
    return labels
