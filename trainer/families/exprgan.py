"""The ExprGAN objective: its networks, one training step's losses, its discriminator updates.

L = L_pixel + λ1 L_id + λ2 L_Q + λ3 L_adv^img + λ4 L_adv^z + λ5 L_tv (docs/ARCHITECTURE.md,
"The ExprGAN family"), plus the recognition head (real faces → their labelled intensities;
generated faces → the intensities asked for). Loss keys follow StarGAN's habit: ``G/pixel``,
``D/img`` …; a generator loss ``G/<field>`` counts with ``LossWeights.<field>``.

:data:`OBJECTIVE` is what the training loop reads (:mod:`trainer.families.base`): the
network table (generator, D_img, D_z, D_expr, each with its own Adam) and the discriminator
rows (D_img, then D_z, then D_expr).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from faceedit.core.expressions import EXPRESSIONS
from faceedit.training.presets import DEFAULT_PRESET
from faceedit.core.models.exprgan import ExprGANConfig, Generator, IdentityCodeDiscriminator, ImageDiscriminator
from trainer.config import PRESETS, Stage
from trainer.data import Batch
from trainer.families.base import DiscriminatorUpdate, FamilyObjective, GeneratorPass, IdentityFn, NetworkSpec
from trainer.families.losses import adversarial, as_rgb, bce, expression_class, frozen, total_variation
from trainer.manifest import LABELS


class ExpressionFromIdentity(nn.Module):
    """D_expr (trainer only): guesses the face's label (six expressions or neutral) from z.

    The encoder is trained to defeat it (CDAAE's idea), so the identity code carries no
    expression and the decoder has to take the expression from the code it is given:
    that is what makes a slider move change the face.
    """

    def __init__(self, config: ExprGANConfig) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(config.z_dim, 128), nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(128, 64), nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(64, len(LABELS)),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


@dataclass(frozen=True)
class Networks:
    """The built networks, typed, as the losses below take them (names as in :data:`OBJECTIVE`)."""

    generator: Generator
    d_img: ImageDiscriminator
    d_z: IdentityCodeDiscriminator
    d_expr: ExpressionFromIdentity

    @classmethod
    def from_table(cls, networks: Mapping[str, nn.Module]) -> Networks:
        return cls(networks["generator"], networks["d_img"], networks["d_z"], networks["d_expr"])


def generator_pass(nets: Networks, batch: Batch, stage: Stage, identity: IdentityFn | None) -> GeneratorPass:
    """Losses of the generator side (encoder, decoder, recognition head; Q via D_img's head)."""
    w = stage.weights
    g = nets.generator
    losses: dict[str, torch.Tensor] = {}
    z = None
    if stage.uses_encoder:
        encoding = g.encode(batch.images)
        z = encoding.z
        # One decoder call for reconstruction, edits and paired edits (one graph per step).
        paired = batch.paired if w.paired > 0 else torch.zeros_like(batch.paired)
        decoded = g.decode(
            torch.cat([z, z, z[paired]]), torch.cat([batch.intensities, batch.targets, batch.partner_intensities[paired]])
        )
        n = z.shape[0]
        recon, edits, paired_edits = decoded[:n], decoded[n : 2 * n], decoded[2 * n :]
        both = decoded[: 2 * n]
        losses["G/pixel"] = F.l1_loss(recon, batch.images)
        if w.paired > 0 and paired_edits.shape[0]:
            # The same person photographed with the other expression: the edit, pixel by pixel.
            losses["G/paired"] = F.l1_loss(paired_edits, batch.partner_images[paired])
        compared = {k: v for k, v in (("G/identity", recon), ("G/identity_edit", edits))
                    if identity is not None and getattr(w, k.removeprefix("G/")) > 0}
        if compared:  # the input faces' features are computed once for both comparisons
            values = identity.losses([as_rgb(v) for v in compared.values()], as_rgb(batch.images))
            losses.update(zip(compared, values))
        if w.recognition > 0:
            losses["G/recognition"] = bce(encoding.intensities, batch.intensities)
        if w.recognition_edit > 0:
            losses["G/recognition_edit"] = bce(frozen(g.encoder, edits).intensities, batch.targets)
        if w.adv_z > 0:
            losses["G/adv_z"] = adversarial(nets.d_z(z), real=True)
        if w.adv_expr > 0:
            # Defeat D_expr: its guess from z should be uniform over the labels.
            guess = F.log_softmax(nets.d_expr(z).float(), dim=1)
            losses["G/adv_expr"] = -guess.mean()
        if w.tv > 0:
            losses["G/tv"] = total_variation(both)
    else:
        edits = g.decode(batch.noise_z, batch.targets)
        if w.tv > 0:
            losses["G/tv"] = total_variation(edits)
    if w.adv_img > 0 or w.q > 0:
        logits, q = nets.d_img(edits, expression_class(batch.targets))
        if w.adv_img > 0:
            losses["G/adv_img"] = adversarial(logits, real=True)
        if w.q > 0:
            losses["G/q"] = F.mse_loss(q.float(), g.code(batch.targets))
    total = sum(w.weight_of(k) * v for k, v in losses.items())
    return GeneratorPass(losses, total, edits, z)


def image_discriminator_loss(nets: Networks, batch: Batch, g: GeneratorPass, stage: Stage) -> dict[str, torch.Tensor]:
    """D_img: real faces with their labels vs generated ones; Q learns the fakes' codes."""
    real_logits, _ = nets.d_img(batch.images, expression_class(batch.intensities))
    fake_logits, q = nets.d_img(g.edits.detach(), expression_class(batch.targets))
    losses = {"D/img": adversarial(real_logits, True) + adversarial(fake_logits, False)}
    if stage.weights.q > 0:
        losses["D/q"] = F.mse_loss(q.float(), nets.generator.code(batch.targets))
    return losses


def code_discriminator_loss(nets: Networks, batch: Batch, g: GeneratorPass, stage: Stage) -> dict[str, torch.Tensor]:
    """D_z: the uniform prior vs the encoder's codes (``g.z``: the row needs z)."""
    assert g.z is not None
    return {"D/z": adversarial(nets.d_z(batch.noise_z), True) + adversarial(nets.d_z(g.z.detach()), False)}


def expression_adversary_loss(nets: Networks, batch: Batch, g: GeneratorPass, stage: Stage) -> dict[str, torch.Tensor]:
    """D_expr: the real label from the encoder's identity code (``g.z``: the row needs z)."""
    assert g.z is not None
    return {"D/expr": F.cross_entropy(nets.d_expr(g.z.detach()).float(), batch.labels)}


def sample_columns(generator: nn.Module, images: torch.Tensor) -> list[torch.Tensor]:
    """Sample grid columns: the input, its reconstruction at the recognised intensities, six expressions at 1.0."""
    assert isinstance(generator, Generator)
    count = images.shape[0]
    encoding = generator.encode(images)
    columns = [images, generator.decode(encoding.z, encoding.intensities)]
    for k in range(len(EXPRESSIONS)):
        target = torch.zeros(count, len(EXPRESSIONS), device=images.device)
        target[:, k] = 1.0
        columns.append(generator.decode(encoding.z, target))
    return columns


OBJECTIVE = FamilyObjective(
    family="exprgan",
    # Built in this order after seeding: the order fixes every network's initial weights.
    networks=(
        NetworkSpec("generator", Generator, parts=("encoder", "decoder")),
        NetworkSpec("d_img", ImageDiscriminator),
        NetworkSpec("d_z", IdentityCodeDiscriminator),
        NetworkSpec("d_expr", ExpressionFromIdentity, added_later=True),
    ),
    generator="generator",
    generator_pass=generator_pass,
    discriminators=(
        DiscriminatorUpdate("d_img", image_discriminator_loss, weighted=("D/q",)),
        DiscriminatorUpdate("d_z", code_discriminator_loss, needs_z=True),
        # Only while the encoder is asked to defeat it: otherwise its guesses teach nothing.
        DiscriminatorUpdate("d_expr", expression_adversary_loss, needs_z=True, needs_weight="adv_expr"),
    ),
    bundle=Networks.from_table,
    sample_columns=sample_columns,
    presets=PRESETS,
    default_preset=DEFAULT_PRESET,  # the retrain dialog's default too
)
