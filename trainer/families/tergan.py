"""The TER-GAN objective: its networks, one training step's losses, its discriminator update.

The abstract (faceedit/core/models/tergan.py has it part by part) names the two encoders,
the decoder, "a novel expression consistency loss and an identity consistency loss which
exploit extra expression and identity information from generated images", and a GAN. The
losses and their weights are this implementation's choices (the abstract gives none):

- ``G/pixel`` (L1): decode(E_id(x), E_exp(x).code) ≈ x, reconstruction "during the
  reconstruction process".
- ``G/tergan_cross`` (L1): for identity-paired faces (same person, other expression:
  ``Batch.paired``), decode(E_id(A), E_exp(B).code) ≈ B: identity from one image,
  expression from another, checked where the answer was photographed; and the same with
  B's code taken from its labelled intensities, decode(E_id(A), M(y_B)) ≈ B, so the path
  the app renders edits through is supervised by pixels too.
- ``G/recognition`` (BCE): E_exp's intensities on real faces ≈ their labels (FER).
- ``G/tergan_code`` (MSE): M's residual for the labelled intensities ≈ E_exp(x)'s residual,
  the encoder's held fixed: the intensity map learns how a real face with these labels
  typically shows them, and gives slider edits a whole code without a reference face.
- ``G/tergan_expression``: expression consistency: E_exp, weights held fixed, on an edit
  decode(E_id(x), M(t)) recovers t (BCE on the intensities + MSE of its residual to M's).
- ``G/tergan_identity`` (L1): identity consistency: E_id, weights held fixed, on the same
  edit recovers E_id(x) (held fixed too). The encoders are frozen in both consistency
  terms so they cannot drift to agree with whatever the decoder makes; only the decoder
  (and M) learn from them.
- ``G/adv_img`` / ``D/img``: an unconditional image discriminator on the edits (realism;
  the expression is the consistency loss's business).

Stages (choice): "reconstruction" (no consistency or adversary while the encoders know
nothing yet) then "consistency" (everything).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from faceedit.core.expressions import EXPRESSIONS
from faceedit.core.models.tergan import TERGAN, TERGANConfig
from trainer.config import LossWeights, Stage, TrainConfig
from trainer.data import Batch
from trainer.families.base import DiscriminatorUpdate, FamilyObjective, GeneratorPass, IdentityFn, NetworkSpec
from trainer.families.losses import adversarial, bce, frozen

GENERATOR_PARTS = ("identity_encoder", "expression_encoder", "code_map", "decoder")


class ImageDiscriminator(nn.Module):
    """D_img (trainer only): strided 4×4 convolutions (LeakyReLU) to 4×4 or less, one real/fake logit."""

    def __init__(self, config: TERGANConfig) -> None:
        super().__init__()
        levels = min(4, config.levels)
        widths = [config.scaled(min(32 * 2**i, 256)) for i in range(levels)]
        layers: list[nn.Module] = []
        in_ch = config.image_channels
        for out_ch in widths:
            layers += [nn.Conv2d(in_ch, out_ch, kernel_size=4, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True)]
            in_ch = out_ch
        self.trunk = nn.Sequential(*layers, nn.Flatten(1))
        side = config.image_size // 2**levels
        self.real_fake = nn.Linear(in_ch * side * side, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.real_fake(self.trunk(images)).squeeze(1)


@dataclass(frozen=True)
class Networks:
    """The built networks, typed, as the losses below take them (names as in :data:`OBJECTIVE`)."""

    generator: TERGAN
    d_img: ImageDiscriminator

    @classmethod
    def from_table(cls, networks: Mapping[str, nn.Module]) -> Networks:
        return cls(networks["generator"], networks["d_img"])  # type: ignore[arg-type]


def generator_pass(nets: Networks, batch: Batch, stage: Stage, identity: IdentityFn | None) -> GeneratorPass:
    """The generator side's losses (both encoders, the intensity map, the decoder)."""
    w = stage.weights
    g = nets.generator
    images = batch.images
    n = images.shape[0]
    identity_codes = g.identity_encoder(images)
    expression = g.expression_encoder(images)
    target_codes = g.code(batch.targets)
    paired = batch.paired if w.tergan_cross > 0 else torch.zeros_like(batch.paired)
    if bool(paired.any()):
        # The partner's expression twice: read by E_exp (the paper's transfer) and mapped from
        # its labelled intensities (the path slider edits and `faceedit transfer` take).
        partner_codes = torch.cat([g.expression_encoder(batch.partner_images[paired]).code,
                                   g.code(batch.partner_intensities[paired])])
        paired_identity = identity_codes[paired].repeat(2, 1)
    else:
        partner_codes, paired_identity = target_codes[:0], identity_codes[:0]
    # One decoder call per step: reconstructions, edits at the batch's targets, cross reconstructions.
    decoded = g.decoder(
        torch.cat([identity_codes, identity_codes, paired_identity]),
        torch.cat([expression.code, target_codes, partner_codes]),
    )
    reconstructions, edits, crosses = decoded[:n], decoded[n : 2 * n], decoded[2 * n :]
    losses: dict[str, torch.Tensor] = {"G/pixel": F.l1_loss(reconstructions.float(), images.float())}
    if crosses.shape[0]:
        losses["G/tergan_cross"] = F.l1_loss(crosses.float(), batch.partner_images[paired].repeat(2, 1, 1, 1).float())
    if w.recognition > 0:
        losses["G/recognition"] = bce(expression.intensities, batch.intensities)
    if w.tergan_code > 0:
        # Only the map learns here: pulling the encoder's codes towards the map as well let
        # both shrink towards one point (measured: codes within 0.01 of each other, the
        # decoder then ignored them), so the encoder's residuals are held fixed as targets.
        losses["G/tergan_code"] = F.mse_loss(g.code_map.residual(batch.intensities).float(), expression.residual.detach().float())
    if w.tergan_expression > 0:
        seen = frozen(g.expression_encoder, edits)
        residual = target_codes[:, seen.intensities.shape[1] :]
        losses["G/tergan_expression"] = bce(seen.intensities, batch.targets) + F.mse_loss(
            seen.residual.float(), residual.detach().float()
        )
    if w.tergan_identity > 0:
        losses["G/tergan_identity"] = F.l1_loss(frozen(g.identity_encoder, edits).float(), identity_codes.detach().float())
    if w.adv_img > 0:
        losses["G/adv_img"] = adversarial(nets.d_img(edits), real=True)
    total = sum(w.weight_of(k) * v for k, v in losses.items())
    return GeneratorPass(losses, total, edits, identity_codes)


def image_discriminator_loss(nets: Networks, batch: Batch, g: GeneratorPass, stage: Stage) -> dict[str, torch.Tensor]:
    """D_img: real faces vs the step's edits."""
    return {"D/img": adversarial(nets.d_img(batch.images), True) + adversarial(nets.d_img(g.edits.detach()), False)}


def sample_columns(generator: nn.Module, images: torch.Tensor) -> list[torch.Tensor]:
    """Input, the face as the edit path renders it (its recognised intensities), transfer of the
    next sample face's expression (the paper's FET), then the six expressions at 1.0."""
    assert isinstance(generator, TERGAN)
    count = images.shape[0]
    identity = generator.identity_encoder(images)
    recognised = generator.expression_encoder(images).intensities
    columns = [images, generator.decode(identity, recognised), generator.transfer(images, images.roll(1, dims=0))]
    for k in range(len(EXPRESSIONS)):
        target = torch.zeros(count, len(EXPRESSIONS), device=images.device)
        target[:, k] = 1.0
        columns.append(generator.decode(identity, target))
    return columns


# Every ExprGAN-only weight off (identity/identity_edit at 0 also keeps the dlib network unloaded).
_EXPRGAN_OFF = dict(identity=0.0, identity_edit=0.0, q=0.0, adv_z=0.0, tv=0.0, recognition_edit=0.0, paired=0.0, adv_expr=0.0)
WEIGHTS = LossWeights(
    pixel=1.0, recognition=1.0, adv_img=0.01,
    tergan_cross=1.0, tergan_code=1.0, tergan_expression=0.5, tergan_identity=0.5,
    **_EXPRGAN_OFF,
)
"""The full objective (choices: reconstruction terms at 1, consistency at 0.5, the adversary at
ExprGAN's released λ3 = 0.01)."""


def curriculum(lengths: tuple[int, int], weights: LossWeights = WEIGHTS) -> tuple[Stage, ...]:
    """Reconstruction (encoders, map and decoder; no consistency, no adversary), then everything."""
    return (
        Stage("reconstruction", lengths[0], GENERATOR_PARTS, True,
              weights.scaled(adv_img=0.0, tergan_expression=0.0, tergan_identity=0.0)),
        Stage("consistency", lengths[1], (*GENERATOR_PARTS, "d_img"), True, weights),
    )


PRESETS: dict[str, TrainConfig] = {
    # The comparison's budget: 1,000 steps at batch 32, 64 px luminance, on a 2-core CPU;
    # width sized so that a step costs about what ExprGAN's bundled preset's does.
    "cpu": TrainConfig(
        preset="cpu", family="tergan", model=TERGANConfig(image_size=64, image_channels=1, width=0.4),
        stages=curriculum((250, 750)), batch_size=32, balanced=True, paired_fraction=0.25,
        sample_every=250, checkpoint_every=250,
    ),
    # The abstract's experiments are on Oulu-CASIA; 128 px RGB at full width, lengths for a GPU.
    "gpu": TrainConfig(
        preset="gpu", family="tergan", model=TERGANConfig(image_size=128, image_channels=3, width=1.0),
        stages=curriculum((5_000, 45_000)), batch_size=32, balanced=True, paired_fraction=0.25,
        sample_every=1_000, checkpoint_every=1_000,
    ),
    # Tiny and short: checks that the whole path runs (tests).
    "smoke": TrainConfig(
        preset="smoke", family="tergan", model=TERGANConfig(image_size=64, image_channels=3, width=0.125),
        stages=curriculum((2, 2)), batch_size=4, paired_fraction=0.25,
        log_every=1, sample_every=2, checkpoint_every=2, sample_faces=2,
    ),
}


OBJECTIVE = FamilyObjective(
    family="tergan",
    # Built in this order after seeding: the order fixes every network's initial weights.
    networks=(
        NetworkSpec("generator", TERGAN, parts=GENERATOR_PARTS),
        NetworkSpec("d_img", ImageDiscriminator),
    ),
    generator="generator",
    generator_pass=generator_pass,
    discriminators=(DiscriminatorUpdate("d_img", image_discriminator_loss, needs_weight="adv_img"),),
    bundle=Networks.from_table,
    sample_columns=sample_columns,
    presets=PRESETS,
    default_preset="cpu",
)
