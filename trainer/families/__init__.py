"""The trainer's side of each model family: family name → its :class:`FamilyObjective`.

A new family brings its own objective module here (its network table, generator pass and
discriminator rows, :mod:`trainer.families.base`) and one entry in :func:`objective_for`;
the training loop stays as it is (docs/ARCHITECTURE.md, "A training step").
"""

from __future__ import annotations

from trainer.families.base import FamilyObjective

DEFAULT_FAMILY = "exprgan"  # every TrainConfig so far trains ExprGAN (its model is an ExprGANConfig)


def objective_for(family: str = DEFAULT_FAMILY) -> FamilyObjective:
    """The training objective of model family ``family``; ``KeyError`` naming the known ones."""
    # Imported here, not at the top: the family modules import trainer.families.base from this package.
    from trainer.families import cdaae, exprgan, tergan, unet_cgan

    objectives = {objective.family: objective for objective in (exprgan.OBJECTIVE, tergan.OBJECTIVE, cdaae.OBJECTIVE, unet_cgan.OBJECTIVE)}
    try:
        return objectives[family]
    except KeyError:
        raise KeyError(f"no training objective for model family {family!r} (known: {', '.join(objectives)})") from None
