"""The registry of model families: the model file's ``family`` field → its :class:`ModelFamily`.

Adding a family: write its module in this package (config, networks, ``read``/``render``,
a ``ModelFamily`` entry), add the entry here, and give the trainer its objective
(docs/ARCHITECTURE.md, "Where to add: a model family").
"""

from __future__ import annotations

from faceedit.core.models.contract import ModelFamily
from faceedit.core.models.cdaae import CDAAE_FAMILY
from faceedit.core.models.exprgan import EXPRGAN
from faceedit.core.models.tergan import TERGAN_FAMILY
from faceedit.core.models.unet_cgan import UNET_CGAN

DEFAULT_FAMILY = "exprgan"
"""The family of model files written before the file named its family (format version 1)."""

FAMILIES: dict[str, ModelFamily] = {family.name: family for family in (EXPRGAN, TERGAN_FAMILY, CDAAE_FAMILY, UNET_CGAN)}


def family_named(name: str) -> ModelFamily:
    """The registered family ``name``; ``KeyError`` with the known names when there is none."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise KeyError(f"unknown model family {name!r} (this faceedit knows {', '.join(FAMILIES)})") from None
