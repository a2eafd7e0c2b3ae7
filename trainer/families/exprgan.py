"""The ExprGAN objective: one training step's losses for generator and discriminators.

L = L_pixel + λ1 L_id + λ2 L_Q + λ3 L_adv^img + λ4 L_adv^z + λ5 L_tv (DESIGN.md §1), plus
the recognition head (real faces → their labelled intensities; generated faces → the
intensities asked for). Loss keys follow StarGAN's habit: ``G/pixel``, ``D/img`` …
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F

from faceedit.core.models.exprgan import Generator, IdentityCodeDiscriminator, ImageDiscriminator, ExprGANConfig
from trainer.config import Stage
from trainer.data import Batch
from trainer.manifest import LABELS

class IdentityFn(Protocol):
    """What the objective needs of :class:`faceedit.core.identity.IdentityLoss`."""

    def losses(self, candidates: Sequence[torch.Tensor], target: torch.Tensor) -> list[torch.Tensor]: ...


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
    generator: Generator
    d_img: ImageDiscriminator
    d_z: IdentityCodeDiscriminator
    d_expr: ExpressionFromIdentity


@dataclass
class GeneratorPass:
    """What the generator step produced, reused by the discriminator steps."""

    losses: dict[str, torch.Tensor]
    total: torch.Tensor
    edits: torch.Tensor  # B×C×S×S, faces at the batch's targets
    z: torch.Tensor | None  # the encoder's codes (None in the controller stage)


def total_variation(images: torch.Tensor) -> torch.Tensor:
    return (images[..., 1:, :] - images[..., :-1, :]).abs().mean() + (images[..., :, 1:] - images[..., :, :-1]).abs().mean()


def _adversarial(logits: torch.Tensor, real: bool) -> torch.Tensor:
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits, target)


def _bce(probabilities: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy on probabilities, written out: F.binary_cross_entropy refuses autocast."""
    p = probabilities.float().clamp(1e-6, 1 - 1e-6)
    return -(targets * p.log() + (1 - targets) * (1 - p).log()).mean()


def expression_class(intensities: torch.Tensor) -> torch.Tensor:
    """What D_img is told about a face: which expression(s), not how strongly.

    Real faces come labelled at intensity 1 (or 0), edits at any s in (0, 1). Told the
    intensities, D_img could call every face with a fractional label fake without looking
    at it, and its gradient would say nothing about the face. So D_img sees the
    intensities divided by their maximum: the paper's one-hot class, mixtures kept in ratio.
    """
    peak = intensities.amax(dim=1, keepdim=True)
    return torch.where(peak > 0, intensities / peak.clamp_min(1e-6), torch.zeros_like(intensities))


def _rgb(images: torch.Tensor) -> torch.Tensor:
    """The identity network wants RGB: luminance models repeat their one channel."""
    return images if images.shape[1] == 3 else images.expand(-1, 3, -1, -1)


def _recognise_frozen(g: Generator, images: torch.Tensor) -> torch.Tensor:
    """The recognition head's reading of ``images`` with its weights held fixed.

    Gradients reach the images (so the decoder learns to make what the head recognises)
    but not the encoder's weights: the head learns from real, labelled faces only and
    cannot drift to agree with whatever the decoder makes (StarGAN's classifier habit).
    """
    weights = {name: p.detach() for name, p in g.encoder.named_parameters()}
    return functional_call(g.encoder, weights, (images,)).intensities


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
            values = identity.losses([_rgb(v) for v in compared.values()], _rgb(batch.images))
            losses.update(zip(compared, values))
        if w.recognition > 0:
            losses["G/recognition"] = _bce(encoding.intensities, batch.intensities)
        if w.recognition_edit > 0:
            losses["G/recognition_edit"] = _bce(_recognise_frozen(g, edits), batch.targets)
        if w.adv_z > 0:
            losses["G/adv_z"] = _adversarial(nets.d_z(z), real=True)
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
            losses["G/adv_img"] = _adversarial(logits, real=True)
        if w.q > 0:
            losses["G/q"] = F.mse_loss(q.float(), g.code(batch.targets))
    weight_of = {
        "G/pixel": w.pixel, "G/identity": w.identity, "G/identity_edit": w.identity_edit, "G/q": w.q,
        "G/adv_img": w.adv_img, "G/adv_z": w.adv_z, "G/tv": w.tv, "G/recognition": w.recognition,
        "G/recognition_edit": w.recognition_edit, "G/paired": w.paired, "G/adv_expr": w.adv_expr,
    }
    total = sum(weight_of[k] * v for k, v in losses.items())
    return GeneratorPass(losses, total, edits, z)


def image_discriminator_loss(nets: Networks, batch: Batch, edits: torch.Tensor, stage: Stage) -> dict[str, torch.Tensor]:
    """D_img: real faces with their labels vs generated ones; Q learns the fakes' codes."""
    real_logits, _ = nets.d_img(batch.images, expression_class(batch.intensities))
    fake_logits, q = nets.d_img(edits.detach(), expression_class(batch.targets))
    losses = {"D/img": _adversarial(real_logits, True) + _adversarial(fake_logits, False)}
    if stage.weights.q > 0:
        losses["D/q"] = F.mse_loss(q.float(), nets.generator.code(batch.targets))
    return losses


def code_discriminator_loss(nets: Networks, batch: Batch, z: torch.Tensor) -> dict[str, torch.Tensor]:
    """D_z: the uniform prior vs the encoder's codes."""
    return {"D/z": _adversarial(nets.d_z(batch.noise_z), True) + _adversarial(nets.d_z(z.detach()), False)}


def expression_adversary_loss(nets: Networks, batch: Batch, z: torch.Tensor) -> dict[str, torch.Tensor]:
    """D_expr: the real label from the encoder's identity code."""
    return {"D/expr": F.cross_entropy(nets.d_expr(z.detach()).float(), batch.labels)}
