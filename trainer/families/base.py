"""What a model family's objective declares to the trainer: its networks and updates as tables.

The training loop (:mod:`trainer.loop`) knows no network by name. A family's objective
module (:mod:`trainer.families.exprgan`) gives it

- a table of :class:`NetworkSpec` rows: each network, how to build it from the family's
  model config, its optimiser, and the curriculum parts (``Stage.trains``) it holds;
- one *generator pass* that computes the generator side's losses and their weighted total;
- a table of :class:`DiscriminatorUpdate` rows, walked in order after the generator step:
  which network, its losses, and when the row runs.

The loop builds every network and one optimiser each from the table, saves and restores
them by the table's names (:mod:`trainer.state`), and walks the rows (docs/ARCHITECTURE.md,
"A training step").
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import nn

from trainer.config import LOSS_WEIGHT_FIELDS, Stage, TrainConfig
from trainer.data import Batch


class IdentityFn(Protocol):
    """What an objective needs of :class:`faceedit.core.identity.IdentityLoss`."""

    def losses(self, candidates: Sequence[torch.Tensor], target: torch.Tensor) -> list[torch.Tensor]: ...


def adam(parameters: Iterable[nn.Parameter], config: TrainConfig) -> torch.optim.Optimizer:
    """The paper's optimiser for every network: Adam at the run's learning rate and betas."""
    return torch.optim.Adam(parameters, lr=config.lr, betas=config.betas)


@dataclass(frozen=True)
class NetworkSpec:
    """One network of a family: built from the model config, trained by its own optimiser.

    ``parts`` are the names a stage's ``trains`` uses for it: sub-modules of the network
    (the generator's ``encoder`` and ``decoder`` train in different stages), or, when
    empty, the network as a whole under its own ``name``.
    """

    name: str  # the key of its weights and its optimiser in the training state
    build: Callable[[Any], nn.Module]  # from the family's model config (TrainConfig.model)
    optimiser: Callable[[Iterable[nn.Parameter], TrainConfig], torch.optim.Optimizer] = adam
    parts: tuple[str, ...] = ()
    added_later: bool = False  # states written before it existed lack it: it keeps its fresh weights

    @property
    def trained_parts(self) -> tuple[str, ...]:
        return self.parts or (self.name,)

    def trained_modules(self, network: nn.Module, trains: Iterable[str]) -> list[nn.Module]:
        """The modules of ``network`` that a stage training ``trains`` updates (in ``parts`` order)."""
        trains = set(trains)
        if not self.parts:
            return [network] if self.name in trains else []
        return [getattr(network, part) for part in self.parts if part in trains]


@dataclass
class GeneratorPass:
    """What the generator step produced, reused by the discriminator steps."""

    losses: dict[str, torch.Tensor]
    total: torch.Tensor
    edits: torch.Tensor  # B×C×S×S, faces at the batch's targets
    z: torch.Tensor | None  # the encoder's codes (None in stages that do not encode)


# The losses of one discriminator row: (networks, batch, the generator pass, stage) → named losses.
DiscriminatorLoss = Callable[[Any, Batch, GeneratorPass, Stage], dict[str, torch.Tensor]]


@dataclass(frozen=True)
class DiscriminatorUpdate:
    """One optimiser step of network ``network`` on the losses ``loss`` returns.

    The row runs when the stage trains the network, and, where asked, when the generator
    pass produced codes z (``needs_z``) and when the loss weight field ``needs_weight`` is
    above 0. Each loss counts with weight 1, except the keys in ``weighted``, which take
    their :meth:`LossWeights.weight_of` (``"D/q"`` → ``weights.q``).
    """

    network: str
    loss: DiscriminatorLoss
    needs_z: bool = False
    needs_weight: str | None = None
    weighted: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        named = ([self.needs_weight] if self.needs_weight else []) + [k.partition("/")[2] for k in self.weighted]
        unknown = [name for name in named if name not in LOSS_WEIGHT_FIELDS]
        if unknown:
            raise ValueError(f"discriminator row {self.network}: no loss weight named {unknown[0]!r}")

    def runs(self, stage: Stage, g: GeneratorPass) -> bool:
        if self.network not in stage.trains:
            return False
        if self.needs_z and g.z is None:
            return False
        return self.needs_weight is None or getattr(stage.weights, self.needs_weight) > 0

    def weights(self, stage: Stage) -> dict[str, float]:
        return {key: stage.weights.weight_of(key) for key in self.weighted}


@dataclass(frozen=True)
class FamilyObjective:
    """A family's training objective: its network table, generator pass and discriminator rows."""

    family: str  # the model family's registry name (faceedit.core.models.families)
    networks: tuple[NetworkSpec, ...]  # built in this order (it fixes the initial weights' random draws)
    generator: str  # the network the generator pass trains and the model file holds
    generator_pass: Callable[[Any, Batch, Stage, IdentityFn | None], GeneratorPass]
    discriminators: tuple[DiscriminatorUpdate, ...]  # walked in this order every step
    bundle: Callable[[Mapping[str, nn.Module]], Any]  # the built networks → what the losses take
    sample_columns: Callable[[nn.Module, torch.Tensor], list[torch.Tensor]]  # generator, faces → image columns
    # Named schedules and sizes (`faceedit-train train --family F --preset P`), each a
    # TrainConfig whose ``family`` is this one; ``default_preset`` when --preset is not given.
    presets: Mapping[str, TrainConfig]
    default_preset: str

    def __post_init__(self) -> None:
        names = [spec.name for spec in self.networks]
        missing = {self.generator, *(row.network for row in self.discriminators)} - set(names)
        if len(set(names)) != len(names) or missing:
            raise ValueError(f"family {self.family}: network table {names} lacks {sorted(missing)} or repeats a name")
        for name, preset in self.presets.items():
            unknown = {part for stage in preset.stages for part in stage.trains} - set(self.parts)
            if preset.family != self.family or unknown:
                raise ValueError(f"family {self.family}: preset {name} is for {preset.family} or trains unknown parts {sorted(unknown)}")
        if self.default_preset not in self.presets:
            raise ValueError(f"family {self.family}: default preset {self.default_preset!r} is not one of its presets")

    @property
    def parts(self) -> tuple[str, ...]:
        """Every name a stage's ``trains`` may use with this family."""
        return tuple(part for spec in self.networks for part in spec.trained_parts)

    def spec(self, name: str) -> NetworkSpec:
        return next(spec for spec in self.networks if spec.name == name)
