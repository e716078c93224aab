"""The backbones the tool knows: one line per backbone, each the ``BACKBONE`` record its module declares.

Adding a backbone is writing its module (tower builder, weight loader, readable
layers, published files: a `Backbone` named ``BACKBONE``) and one
`register_backbone` line below. Everything else reads `BACKBONES`: the model
spec (every backbone is a single-backbone model of its name and a branch of the
ensemble), the embedding cache, the weights look-up, display names, the models
the ensemble is compared with.

`BACKBONES` is the registry itself, a dict that names the known backbones when
asked for another one, so a typo never surfaces as a bare ``KeyError``.
"""

from __future__ import annotations

from seraudit.ensemble.backbones import vggish, yamnet
from seraudit.ensemble.backbones.backbone import Backbone


class UnknownBackboneError(KeyError, ValueError):
    """A backbone name no module registered; the message lists the known ones."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class BackboneRegistry(dict):
    """Backbone name -> its `Backbone`, in registration order (the ensemble's branch order)."""

    def __missing__(self, name):
        raise UnknownBackboneError(f"unknown backbone {name!r}; the known backbones are {', '.join(self) or 'none'}")


BACKBONES: BackboneRegistry = BackboneRegistry()


def register_backbone(backbone: Backbone) -> Backbone:
    """Make `backbone` known to the whole tool under its name; a second backbone of the same name is refused."""
    if not isinstance(backbone, Backbone):
        raise TypeError(f"register a Backbone record, got {type(backbone).__name__}")
    if backbone.name in BACKBONES:
        raise ValueError(f"a backbone named {backbone.name!r} is already registered")
    BACKBONES[backbone.name] = backbone
    return backbone


def backbone_display(name: str) -> str:
    """The name people read for backbone `name` ("YAMNet"); an unregistered name is shown as it is."""
    return BACKBONES[name].display if name in BACKBONES else name


register_backbone(yamnet.BACKBONE)
register_backbone(vggish.BACKBONE)
