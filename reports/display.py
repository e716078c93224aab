"""How the report's pages print figures and names: the Jinja filters over `core.display`'s rules, model titles, the badge.

Every template prints a number through one of these filters, so a p-value, a UAR or a
probability reads the same on every page and in ``audit.json``'s check texts (which call
`core.display` directly):

=====================  ====================================  ======================
filter                 for                                   example
=====================  ====================================  ======================
``pvalue``             a p-value (``pvalue(bare=True)``      ``p < 0.001``,
                       in a column headed "p")               ``p = 0.759``
``uar``                UAR in percent points                 ``56.5``
``points``             other scores in percent (recall)      ``41.7``
``points_change``      a difference of two of them           ``+0.7``
``points_interval``    its interval                          ``[-1.0, +2.6]``
``probability``        a model's probability                 ``0.83``
``probability_change`` a change of probability              ``+0.012``
``percent``            a share (of clips, of flips)          ``74 %``
``interval``           another interval                      ``[-0.004, +0.067]``
``fmt``                anything else                         ``0.412``
=====================  ====================================  ======================

Names: `model_title` is the one rule for a model key ("egemaps" is the "eGeMAPS baseline",
a backbone key its display name); `badged` shows the "untrained" tag once, inside the name.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

import jinja2
import markupsafe

from seraudit.core import display
from seraudit.core.naming import UNTRAINED_TAG, slug
from seraudit.ensemble.backbones.registry import BACKBONES
from seraudit.ensemble.model.naming import model_display
from seraudit.ensemble.model.spec import BASELINE_MODEL

#: What every page calls the eGeMAPS + logistic-regression reference (the verdict's checks say the same).
BASELINE_TITLE = "eGeMAPS baseline"

FILTERS = {
    "fmt": display.value,
    "percent": display.percent,
    "interval": display.interval,
    "pvalue": display.pvalue,
    "uar": display.points,
    "points": display.points,
    "points_change": display.points_change,
    "points_interval": display.points_interval,
    "probability": display.probability,
    "probability_change": display.probability_change,
    "slug": slug,
}


def register(env: jinja2.Environment) -> jinja2.Environment:
    """Add every number filter, `badged` and the untrained tag to `env`."""
    env.filters.update(FILTERS)
    env.filters["badged"] = badged
    env.globals["untrained_tag"] = UNTRAINED_TAG
    return env


def model_title(name: str, models: Mapping[str, Any] | None = None, fallback: str = "") -> str:
    """A model or backbone key as every page names it: the report's title for a model it holds (the "untrained"
    tag included), "eGeMAPS baseline", a backbone's display name ("vggish" -> "VGGish"), else `fallback` or the key."""
    if models and name in models:
        return models[name].title
    if name == BASELINE_MODEL:
        return BASELINE_TITLE
    if name in BACKBONES:
        return model_display(name)
    return fallback or str(name)


_TAG = re.compile(rf"\b{re.escape(UNTRAINED_TAG)}\b")


def badged(title: str, untrained: bool) -> markupsafe.Markup:
    """`title` escaped, its "untrained" shown as the badge where the name already says it; appended only when the
    name does not (so "VGGish (untrained)" never reads "VGGish (untrained) untrained")."""
    text = str(markupsafe.escape(title))
    if not untrained:
        return markupsafe.Markup(text)
    badge = f'<span class="tag-untrained">{markupsafe.escape(UNTRAINED_TAG)}</span>'
    if _TAG.search(text):
        return markupsafe.Markup(_TAG.sub(badge, text))
    return markupsafe.Markup(f"{text} {badge}")
