"""The CDAAE objective (Zhou & Shi 2017): its networks, one training step's losses, its adversaries.

The abstract gives the idea, not the losses; these are ours, each tied to its sentence:

- autoencoder: ``G/pixel``, L1 between a face and its render at its own (labelled)
  intensities, where the difference path is zero;
- "learning to generate the difference between low-level features of images of the same
  person but with different facial expressions": on the batch's same-person pairs,
  ``G/paired`` (L1 between the face rendered at its partner's intensities, from its own
  features plus the difference for partner − own, and the partner's photo) and
  ``G/cdaae_difference`` (the carried features themselves: own + Δ against the partner's
  encoder features, L1 relative to the partner's mean magnitude, the partner's side held
  fixed so the encoder cannot shrink both to agree);
- "adversarial": ``G/adv_z`` against D_z (the encoder's z vs the uniform prior, as an
  adversarial autoencoder holds its code to a prior) and ``G/adv_expr`` against D_expr
  (z should not tell the expression: identity and expression disentangled);
- "conditional": ``G/adv_img`` against D_img, a projection discriminator told the
  asked expression (as a class: the intensities over their maximum), on faces rendered at
  random targets (one expression, sometimes two mixed: "combining");
- not in the paper: ``G/recognition`` (the recognition head on real labels: where the
  sliders start) and ``G/recognition_edit`` (the head, held fixed, reads the asked
  intensities off random edits, so a slider move shows), ``G/tv``, and where a preset
  asks for it the identity network's features (``G/identity``, ``G/identity_edit``).

During training the *source* intensities of a face are its labels (what the pairs'
difference is defined on); in the app they are the recognised ones.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from faceedit.core.expressions import EXPRESSIONS
from faceedit.core.models.cdaae import CDAAE, CDAAEConfig
from trainer.config import LossWeights, Stage, TrainConfig
from trainer.data import Batch
from trainer.families.base import DiscriminatorUpdate, FamilyObjective, GeneratorPass, IdentityFn, NetworkSpec
from trainer.families.losses import adversarial, as_rgb, bce, expression_class, frozen, total_variation
from trainer.manifest import LABELS

FAMILY = "cdaae"


class ImageDiscriminator(nn.Module):
    """D_img: real or generated, told the expression class (a projection discriminator).

    Four strided 4×4 convs (16, 32, 64, 128 × width, LeakyReLU, no normalisation), then
    logit = w·h + ⟨A·label, h⟩ over the pooled features h: the label's condition costs one
    linear map instead of K extra input channels.
    """

    def __init__(self, config: CDAAEConfig) -> None:
        super().__init__()
        widths = [config.scaled(c) for c in (16, 32, 64, 128)]
        layers: list[nn.Module] = []
        in_ch = config.image_channels
        for out_ch in widths:
            layers += [nn.Conv2d(in_ch, out_ch, kernel_size=4, stride=2, padding=1), nn.LeakyReLU(0.2)]
            in_ch = out_ch
        self.trunk = nn.Sequential(*layers)
        self.real_fake = nn.Linear(in_ch, 1)
        self.project = nn.Linear(config.num_expressions, in_ch, bias=False)

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        features = self.trunk(images).mean(dim=(2, 3))
        return (self.real_fake(features).squeeze(1) + (self.project(labels.to(features.dtype)) * features).sum(1))


class CodeDiscriminator(nn.Module):
    """D_z: the encoder's identity codes vs the prior U(−1, 1)^z_dim (FC 64-32-16 → 1)."""

    def __init__(self, config: CDAAEConfig) -> None:
        super().__init__()
        dims = [config.z_dim, 64, 32, 16]
        layers: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:]):
            layers += [nn.Linear(a, b), nn.LeakyReLU(0.2)]
        self.net = nn.Sequential(*layers, nn.Linear(dims[-1], 1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).squeeze(1)


class ExpressionFromCode(nn.Module):
    """D_expr: guesses the face's label (six expressions or neutral) from z; the encoder defeats it."""

    def __init__(self, config: CDAAEConfig) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(config.z_dim, 128), nn.LeakyReLU(0.2), nn.Linear(128, 64), nn.LeakyReLU(0.2), nn.Linear(64, len(LABELS)),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


@dataclass(frozen=True)
class Networks:
    """The built networks, typed (names as in :data:`OBJECTIVE`)."""

    generator: CDAAE
    d_img: ImageDiscriminator
    d_z: CodeDiscriminator
    d_expr: ExpressionFromCode

    @classmethod
    def from_table(cls, networks: Mapping[str, nn.Module]) -> Networks:
        return cls(networks["generator"], networks["d_img"], networks["d_z"], networks["d_expr"])


def relative_l1(moved: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """mean |moved − target| / mean |target| (``target`` held fixed): scale-free, so shrinking
    every feature does not lower it."""
    target = target.detach().float()
    return (moved.float() - target).abs().mean() / target.abs().mean().clamp_min(1e-6)


def generator_pass(nets: Networks, batch: Batch, stage: Stage, identity: IdentityFn | None) -> GeneratorPass:
    """The generator side: encoder (+ recognition head) and decoder (+ difference path)."""
    w = stage.weights
    g = nets.generator
    n = batch.images.shape[0]
    losses: dict[str, torch.Tensor] = {}
    uses_pairs = w.paired > 0 or w.cdaae_difference > 0
    paired = batch.paired if uses_pairs else torch.zeros_like(batch.paired)
    pair_rows = torch.nonzero(paired).flatten()
    # One encoder pass over the faces and their partners (these are only needed for Δ's target).
    partners_for_features = batch.partner_images[pair_rows] if w.cdaae_difference > 0 else batch.images[:0]
    encoding = g.encode(torch.cat([batch.images, partners_for_features]))
    z = encoding.z[:n]
    own = batch.intensities.to(z.dtype)
    # One decoder pass: reconstruction (own → own), random edits (own → target), pairs (own → partner's).
    # Rows are repeated by concatenation, not by indexing with repeated indices: the
    # backward of such an index accumulates in a thread-dependent order, and a resumed run
    # would no longer be bit-identical to an uninterrupted one.
    def rows(values: torch.Tensor) -> torch.Tensor:
        return torch.cat([values[:n], values[:n], values[pair_rows]])

    targets = torch.cat([own, batch.targets.to(z.dtype), batch.partner_intensities[pair_rows].to(z.dtype)])
    carried = g.decoder.carried(tuple(rows(f) for f in encoding.features), targets - rows(own))
    decoded = g.decoder(rows(z), targets, carried)
    recon, edits, paired_edits = decoded[:n], decoded[n : 2 * n], decoded[2 * n :]

    losses["G/pixel"] = F.l1_loss(recon, batch.images)
    if w.paired > 0 and len(pair_rows):
        losses["G/paired"] = F.l1_loss(paired_edits, batch.partner_images[pair_rows])
    if w.cdaae_difference > 0 and len(pair_rows):
        moved = [c[2 * n :] for c in carried]
        partner_features = [f[n:] for f in encoding.features]
        losses["G/cdaae_difference"] = sum(relative_l1(m, p) for m, p in zip(moved, partner_features)) / len(moved)
    compared = {k: v for k, v in (("G/identity", recon), ("G/identity_edit", edits))
                if identity is not None and getattr(w, k.removeprefix("G/")) > 0}
    if compared:
        values = identity.losses([as_rgb(v) for v in compared.values()], as_rgb(batch.images))
        losses.update(zip(compared, values))
    if w.recognition > 0:
        losses["G/recognition"] = bce(encoding.intensities[:n], batch.intensities)
    if w.recognition_edit > 0:
        losses["G/recognition_edit"] = bce(frozen(g.encoder, edits).intensities, batch.targets)
    if w.adv_z > 0:
        losses["G/adv_z"] = adversarial(nets.d_z(z), real=True)
    if w.adv_expr > 0:
        # Defeat D_expr: its guess from z should be uniform over the labels.
        losses["G/adv_expr"] = -F.log_softmax(nets.d_expr(z).float(), dim=1).mean()
    if w.adv_img > 0:
        losses["G/adv_img"] = adversarial(nets.d_img(edits, expression_class(batch.targets)), real=True)
    if w.tv > 0:
        losses["G/tv"] = total_variation(decoded)
    total = sum(w.weight_of(k) * v for k, v in losses.items())
    return GeneratorPass(losses, total, edits, z)


def image_discriminator_loss(nets: Networks, batch: Batch, g: GeneratorPass, stage: Stage) -> dict[str, torch.Tensor]:
    """D_img: real faces told their labels vs random edits told the asked expression."""
    real = nets.d_img(batch.images, expression_class(batch.intensities))
    fake = nets.d_img(g.edits.detach(), expression_class(batch.targets))
    return {"D/img": adversarial(real, True) + adversarial(fake, False)}


def code_discriminator_loss(nets: Networks, batch: Batch, g: GeneratorPass, stage: Stage) -> dict[str, torch.Tensor]:
    """D_z: the uniform prior vs the encoder's codes."""
    assert g.z is not None
    return {"D/z": adversarial(nets.d_z(batch.noise_z), True) + adversarial(nets.d_z(g.z.detach()), False)}


def expression_adversary_loss(nets: Networks, batch: Batch, g: GeneratorPass, stage: Stage) -> dict[str, torch.Tensor]:
    """D_expr: the real label from the encoder's identity code."""
    assert g.z is not None
    return {"D/expr": F.cross_entropy(nets.d_expr(g.z.detach()).float(), batch.labels)}


def sample_columns(generator: nn.Module, images: torch.Tensor) -> list[torch.Tensor]:
    """Sample grid: the input, its render at the recognised intensities, each expression at 1.0 (the rest 0)."""
    assert isinstance(generator, CDAAE)
    encoding = generator.encode(images)
    source = encoding.intensities
    columns = [images, generator.generate(encoding.z, encoding.features, source, source)]
    for k in range(len(EXPRESSIONS)):
        target = torch.zeros_like(source)
        target[:, k] = 1.0
        columns.append(generator.generate(encoding.z, encoding.features, source, target))
    return columns


PARTS = ("encoder", "decoder", "d_img", "d_z", "d_expr")

# The CPU recipe's weights: the autoencoder and pair terms at 1, the adversaries small
# (ExprGAN's released λ3 = λ4 = 0.01; D_expr 0.05 as the bundled ExprGAN recipe), no deep
# identity loss (on a 2-core CPU it would cost most of a step).
CPU_WEIGHTS = LossWeights(
    pixel=1.0, identity=0.0, identity_edit=0.0, q=0.0, adv_img=0.01, adv_z=0.01, tv=0.001,
    recognition=1.0, recognition_edit=0.5, paired=1.0, adv_expr=0.05, cdaae_difference=0.1,
)


def _stages(steps: int, weights: LossWeights) -> tuple[Stage, ...]:
    """One stage: an adversarial autoencoder trains with its adversaries from the start."""
    return (Stage("cdaae", steps, PARTS, True, weights),)


PRESETS: dict[str, TrainConfig] = {
    # The comparison's budget: 1,000 steps at batch 32, 64 px luminance, on a 2-core CPU.
    "cpu": TrainConfig(
        preset="cpu", family=FAMILY, model=CDAAEConfig(image_size=64, width=0.375, image_channels=1),
        stages=_stages(1_000, CPU_WEIGHTS), batch_size=32, balanced=True, paired_fraction=0.25,
        checkpoint_every=250, sample_every=250,
    ),
    # 128 px RGB at full width with the identity network's features; lengths for a GPU.
    "gpu": TrainConfig(
        preset="gpu", family=FAMILY, model=CDAAEConfig(image_size=128, width=1.0, image_channels=3),
        stages=_stages(40_000, CPU_WEIGHTS.scaled(identity=1.0, identity_edit=0.5)), batch_size=32, balanced=True,
        paired_fraction=0.25, checkpoint_every=2_000, sample_every=1_000, log_every=50,
    ),
    # Tiny and short: every loss and every adversary runs (tests).
    "smoke": TrainConfig(
        preset="smoke", family=FAMILY, model=CDAAEConfig(image_size=64, width=0.125, image_channels=3),
        stages=_stages(6, CPU_WEIGHTS), batch_size=4, paired_fraction=0.5,
        log_every=1, sample_every=3, checkpoint_every=3, sample_faces=2, identity_layers=("stem",),
    ),
}

OBJECTIVE = FamilyObjective(
    family=FAMILY,
    # Built in this order after seeding: the order fixes every network's initial weights.
    networks=(
        NetworkSpec("generator", CDAAE, parts=("encoder", "decoder")),
        NetworkSpec("d_img", ImageDiscriminator),
        NetworkSpec("d_z", CodeDiscriminator),
        NetworkSpec("d_expr", ExpressionFromCode),
    ),
    generator="generator",
    generator_pass=generator_pass,
    discriminators=(
        DiscriminatorUpdate("d_img", image_discriminator_loss, needs_weight="adv_img"),
        DiscriminatorUpdate("d_z", code_discriminator_loss, needs_z=True, needs_weight="adv_z"),
        DiscriminatorUpdate("d_expr", expression_adversary_loss, needs_z=True, needs_weight="adv_expr"),
    ),
    bundle=Networks.from_table,
    sample_columns=sample_columns,
    presets=PRESETS,
    default_preset="cpu",
)
