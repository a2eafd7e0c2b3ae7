"""The U-Net cGAN objective (Wang et al., ICMR 2018 / ACM TOMM): networks, one step's losses, presets.

Only the abstract exists here; each loss quotes the sentence it comes from and says what we
chose where it is silent. Loss keys ``G/<field>`` count with ``LossWeights.<field>``:

- ``G/pixel``: L1 between the U-Net's rendering of each face at its own (labelled)
  intensities and the face (our addition: keeps "the property of the input face" and makes
  the app's zero-change rendering the face itself).
- ``G/paired``: L1 between the rendering at the partner's intensities and the same person
  photographed with that expression, on the batch's identity-paired rows (``Batch.paired``).
- ``G/recognition``: the recognition head (our addition) on real faces against their labels;
  ``G/recognition_edit``: the head, weights frozen, on the edits against the intensities
  asked for (so the decoder must make what the condition says).
- ``G/adv_img`` and the ``d_pair`` row: "we pair the generated output with condition image
  of other identities for the discriminator, so as to encourage it to learn the
  distinctions between the synthesized and natural images, as well as between input and
  other identities". :class:`PairDiscriminator` sees (face, condition image, expression
  maps). The abstract does not say how the condition image is chosen; we take it from the
  batch by label (:func:`condition_rows`): a *real* pair is (real face i, real face j of the
  same label as i, i's expression); a *fake* pair is (edit of face i, real face j whose
  label is the edit's strongest target expression, the edit's expression). j ≠ i always,
  and j is never a row with the same pixels as face i or i's partner, so the condition
  image is (nearly always: a batch of 32 from hundreds of subjects) another identity.
  Rows with no such j in the batch count with weight 0. The expression maps are the
  intensities divided by their maximum (``losses.expression_class``: a real face is
  labelled at 1, an edit at any s, and D must not tell them apart by the number).
- ``G/unet_cgan_triplet`` and the ``embedding`` row: "we utilize the triplet loss to
  maintain the generated face images closer to the same identity person by imposing a
  margin between the positive pairs and negative pairs in feature space". The feature space
  is :class:`IdentityEmbedding`, a small CNN (64-d, unit length) trained alongside (our
  choice: dlib's identity network, faceedit.core.identity, would double the cpu preset's
  step on a 2-core CPU: 3.1 s for 32 edits and 32 sources with the backward pass, beside
  2.7–3.7 s for ExprGAN's whole bundled step under the same load). Generator side: anchor = the edit,
  positive = its source face, negative = another row's face (:func:`other_rows`), margin
  :data:`TRIPLET_MARGIN`, embedding weights frozen. Embedding side: anchor = a real face,
  positive = the same person's partner photo (paired rows only: another expression, so the
  embedding learns identity, not expression), negative = another row's face.

:data:`OBJECTIVE` is what the training loop reads (:mod:`trainer.families.base`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from faceedit.core.expressions import EXPRESSIONS
from faceedit.core.models.unet_cgan import Generator, UNetCGANConfig
from trainer.config import LossWeights, Stage, TrainConfig
from trainer.data import Batch
from trainer.families.base import DiscriminatorUpdate, FamilyObjective, GeneratorPass, IdentityFn, NetworkSpec
from trainer.families.losses import bce, expression_class, frozen

FAMILY = "unet-cgan"

TRIPLET_MARGIN = 0.2
"""The triplet margin on unit-length embeddings (squared distances lie in [0, 4]; FaceNet's 0.2)."""


class PairDiscriminator(nn.Module):
    """D: (face, condition image, expression maps) → a 4×4 grid of real/fake logits (PatchGAN-style).

    Strided 4×4 convolutions with LeakyReLU 0.2 and no normalisation (real and fake pairs
    go through separate calls; batch statistics would tell them apart).
    """

    def __init__(self, config: UNetCGANConfig) -> None:
        super().__init__()
        widths = [config.scaled(c) for c in (32, 64, 128, 256)]
        layers: list[nn.Module] = []
        in_ch = 2 * config.image_channels + config.num_expressions
        for out_ch in widths:
            layers += [nn.Conv2d(in_ch, out_ch, kernel_size=4, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True)]
            in_ch = out_ch
        self.trunk = nn.Sequential(*layers)
        self.to_logits = nn.Conv2d(in_ch, 1, kernel_size=3, padding=1)

    def forward(self, faces: torch.Tensor, conditions: torch.Tensor, expression: torch.Tensor) -> torch.Tensor:
        """N logits per patch (N×P); ``expression``: N×K class vectors (intensities / their maximum)."""
        n, _, h, w = faces.shape
        maps = expression.to(faces.dtype)[:, :, None, None].expand(n, expression.shape[1], h, w)
        return self.to_logits(self.trunk(torch.cat([faces, conditions, maps], dim=1))).flatten(1)


class IdentityEmbedding(nn.Module):
    """The triplet loss's feature space: face → 64-d unit vector (trainer only)."""

    def __init__(self, config: UNetCGANConfig) -> None:
        super().__init__()
        widths = [config.scaled(c) for c in (16, 32, 64, 128)]
        layers: list[nn.Module] = []
        in_ch = config.image_channels
        for out_ch in widths:
            layers += [nn.Conv2d(in_ch, out_ch, kernel_size=4, stride=2, padding=1), nn.LeakyReLU(0.2, inplace=True)]
            in_ch = out_ch
        self.trunk = nn.Sequential(*layers)
        self.project = nn.Linear(in_ch, 64)

    def forward(self, faces: torch.Tensor) -> torch.Tensor:
        pooled = self.trunk(faces).float().mean(dim=(2, 3))
        return F.normalize(self.project(pooled), dim=1)


@dataclass(frozen=True)
class Networks:
    """The built networks, typed, as the losses take them (names as in :data:`OBJECTIVE`)."""

    generator: Generator
    d_pair: PairDiscriminator
    embedding: IdentityEmbedding

    @classmethod
    def from_table(cls, networks: Mapping[str, nn.Module]) -> Networks:
        return cls(networks["generator"], networks["d_pair"], networks["embedding"])


# --- choosing rows of the batch ---------------------------------------------------------


def _checksum(images: torch.Tensor) -> torch.Tensor:
    """One float64 number per image, equal for equal pixels (the same products summed in the same
    order); different images collide with negligible probability, and a collision only rules a row out."""
    flat = images.detach().flatten(1).double()
    weights = torch.arange(flat.shape[1], device=flat.device, dtype=torch.float64).remainder(997).add(1.0)
    return (flat * weights).sum(dim=1)  # a per-row reduction: the same order for every row


def _same_person_guess(batch: Batch) -> torch.Tensor:
    """B×B bool: row j's face has the same pixels as row i's face or as i's partner (the
    batch carries no subject ids; equal pixels are the sure cases, the diagonal included)."""
    faces, partners = _checksum(batch.images), _checksum(batch.partner_images)
    return (faces[:, None] == faces[None]) | (partners[:, None] == faces[None])


def _first_match(allowed: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """For each row i, the first allowed j in the cyclic order i+1, i+2, … (deterministic,
    no random draw: a resumed run picks the same rows); returns (index, found)."""
    count = allowed.shape[0]
    rows = torch.arange(count, device=allowed.device)
    distance = (rows[None, :] - rows[:, None]) % count  # B×B, j − i cyclically
    ranked = torch.where(allowed, distance, torch.full_like(distance, count))
    index = ranked.argmin(dim=1)
    return index, allowed.any(dim=1)


def condition_rows(batch: Batch, wanted_labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row i, a row j whose real face is labelled ``wanted_labels[i]`` (LABELS index) and is
    not i's face or partner; (index, found). Where none is found the index is i, weight 0."""
    allowed = (batch.labels[None, :] == wanted_labels[:, None]) & ~_same_person_guess(batch)
    index, found = _first_match(allowed)
    rows = torch.arange(index.shape[0], device=index.device)
    return torch.where(found, index, rows), found


def other_rows(batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row i, the next row whose face is not i's face or partner (the triplet's negative)."""
    index, found = _first_match(~_same_person_guess(batch))
    rows = torch.arange(index.shape[0], device=index.device)
    return torch.where(found, index, rows), found


def target_labels(targets: torch.Tensor) -> torch.Tensor:
    """The LABELS index of each target's strongest expression (LABELS begins with EXPRESSIONS)."""
    return targets.argmax(dim=1)


# --- losses --------------------------------------------------------------------------------


def _weighted_mean(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Mean of ``values`` over rows with weight 1; 0 (still in the graph) where no row counts."""
    weights = weights.to(values.dtype)
    return (values * weights).sum() / weights.sum().clamp_min(1.0)


def _adversarial(logits: torch.Tensor, real: bool, weights: torch.Tensor) -> torch.Tensor:
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    per_row = F.binary_cross_entropy_with_logits(logits.float(), target.float(), reduction="none").mean(dim=1)
    return _weighted_mean(per_row, weights)


def triplet(anchor: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """max(0, ‖a − p‖² − ‖a − n‖² + margin), averaged over the rows that count."""
    gap = (anchor - positive).pow(2).sum(dim=1) - (anchor - negative).pow(2).sum(dim=1)
    return _weighted_mean(F.relu(gap + TRIPLET_MARGIN), weights)


def generator_pass(nets: Networks, batch: Batch, stage: Stage, identity: IdentityFn | None) -> GeneratorPass:
    """The U-Net's losses: reconstruction, paired edits, recognition, adversarial pairs, triplet."""
    w = stage.weights
    g = nets.generator
    losses: dict[str, torch.Tensor] = {}
    encoding = g.encode(batch.images)
    n = batch.images.shape[0]
    paired = batch.paired if w.paired > 0 else torch.zeros_like(batch.paired)
    # One decoder call for reconstructions, edits and paired edits (the skips repeated).
    skips = tuple(torch.cat([s, s, s[paired]]) for s in encoding.skips)
    decoded = g.decode(skips, torch.cat([batch.intensities, batch.targets, batch.partner_intensities[paired]]))
    recon, edits, paired_edits = decoded[:n], decoded[n : 2 * n], decoded[2 * n :]
    losses["G/pixel"] = F.l1_loss(recon, batch.images)
    if w.paired > 0 and paired_edits.shape[0]:
        losses["G/paired"] = F.l1_loss(paired_edits, batch.partner_images[paired])
    if w.recognition > 0:
        losses["G/recognition"] = bce(encoding.intensities, batch.intensities)
    if w.recognition_edit > 0:
        losses["G/recognition_edit"] = bce(frozen(g.encoder, edits).intensities, batch.targets)
    if w.adv_img > 0:
        conditions, found = condition_rows(batch, target_labels(batch.targets))
        logits = nets.d_pair(edits, batch.images[conditions], expression_class(batch.targets))
        losses["G/adv_img"] = _adversarial(logits, True, found)
    if w.unet_cgan_triplet > 0:
        negatives, found = other_rows(batch)
        embedded = nets.embedding(torch.cat([edits, batch.images]))
        anchor, source = embedded[:n], embedded[n:]
        losses["G/unet_cgan_triplet"] = triplet(anchor, source, source[negatives], found)
    if w.tv > 0:
        both = decoded[: 2 * n]
        losses["G/tv"] = (both[..., 1:, :] - both[..., :-1, :]).abs().mean() + (both[..., 1:] - both[..., :-1]).abs().mean()
    total = sum(w.weight_of(k) * v for k, v in losses.items())
    return GeneratorPass(losses, total, edits, None)


def pair_discriminator_loss(nets: Networks, batch: Batch, g: GeneratorPass, stage: Stage) -> dict[str, torch.Tensor]:
    """D: (real face, another real face of its label) are real; (edit, a real face of the
    edit's strongest target expression from another row) are fake."""
    real_conditions, real_found = condition_rows(batch, batch.labels)
    fake_conditions, fake_found = condition_rows(batch, target_labels(batch.targets))
    real = nets.d_pair(batch.images, batch.images[real_conditions], expression_class(batch.intensities))
    fake = nets.d_pair(g.edits.detach(), batch.images[fake_conditions], expression_class(batch.targets))
    return {"D/img": _adversarial(real, True, real_found) + _adversarial(fake, False, fake_found)}


def embedding_loss(nets: Networks, batch: Batch, g: GeneratorPass, stage: Stage) -> dict[str, torch.Tensor]:
    """The identity embedding: a real face nearer its partner photo (same person, another
    expression) than another row's face, on the paired rows."""
    n = batch.images.shape[0]
    negatives, found = other_rows(batch)
    embedded = nets.embedding(torch.cat([batch.images, batch.partner_images]))
    faces, partners = embedded[:n], embedded[n:]
    return {"D/unet_cgan_triplet": triplet(faces, partners, faces[negatives], found & batch.paired)}


def sample_columns(generator: nn.Module, images: torch.Tensor) -> list[torch.Tensor]:
    """Sample grid columns: the input, its rendering at the recognised intensities, six expressions at 1.0."""
    assert isinstance(generator, Generator)
    count = images.shape[0]
    encoding = generator.encode(images)
    columns = [images, generator.decode(encoding.skips, encoding.intensities)]
    for k in range(len(EXPRESSIONS)):
        target = torch.zeros(count, len(EXPRESSIONS), device=images.device)
        target[:, k] = 1.0
        columns.append(generator.decode(encoding.skips, target))
    return columns


# --- presets ---------------------------------------------------------------------------------

PARTS = ("encoder", "decoder", "d_pair", "embedding")

WEIGHTS = LossWeights(
    pixel=1.0, paired=1.0, recognition=1.0, recognition_edit=0.5, adv_img=0.01, unet_cgan_triplet=0.1, tv=0.0,
    # ExprGAN's terms that this family does not have (the deep identity loss would load dlib's network).
    identity=0.0, identity_edit=0.0, q=0.0, adv_z=0.0, adv_expr=0.0,
)
"""λ: L1 terms at 1 (pix2pix's habit of a strong L1 beside a weak adversary: adversarial
0.01, ExprGAN's λ3), recognition as ExprGAN, the triplet at 0.1 (its hinge is about the
margin, 0.2, at the start; the abstract gives no weights)."""


def _stages(steps: int) -> tuple[Stage, ...]:
    # One stage: the abstract names no curriculum, and the U-Net needs no pre-training.
    return (Stage("unet-cgan", steps, PARTS, True, WEIGHTS),)


PRESETS: dict[str, TrainConfig] = {
    # The comparison's budget: 64 px luminance, batch 32, 1,000 steps. Width 0.375 (24, 48,
    # 96, 192 channels): 39 GFLOP a step vs ExprGAN bundled's 50; measured round-robin on a
    # quiet 2-core CPU, 0.22 s vs 0.18 s a step in bf16 (what runs use there), 0.37 vs 0.33 s
    # in fp32 (width 0.3125 would match in bf16: 0.185 s).
    "cpu": TrainConfig(
        preset="cpu", family=FAMILY, model=UNetCGANConfig(image_size=64, image_channels=1, width=0.375),
        stages=_stages(1_000), batch_size=32, balanced=True, paired_fraction=0.25,
        checkpoint_every=250, sample_every=250,
    ),
    # The abstract's databases at 128 px RGB, full width; a GPU's length.
    "gpu": TrainConfig(
        preset="gpu", family=FAMILY, model=UNetCGANConfig(image_size=128, image_channels=3, width=1.0),
        stages=_stages(40_000), batch_size=32, balanced=True, paired_fraction=0.25,
        checkpoint_every=2_000, sample_every=2_000,
    ),
    # Tiny and short: checks that the whole path runs (tests).
    "smoke": TrainConfig(
        preset="smoke", family=FAMILY, model=UNetCGANConfig(image_size=64, image_channels=3, width=0.125),
        stages=_stages(4), batch_size=4, paired_fraction=0.5,
        log_every=1, sample_every=2, checkpoint_every=2, sample_faces=2,
    ),
}


OBJECTIVE = FamilyObjective(
    family=FAMILY,
    # Built in this order after seeding: the order fixes every network's initial weights.
    networks=(
        NetworkSpec("generator", Generator, parts=("encoder", "decoder")),
        NetworkSpec("d_pair", PairDiscriminator),
        NetworkSpec("embedding", IdentityEmbedding),
    ),
    generator="generator",
    generator_pass=generator_pass,
    discriminators=(
        DiscriminatorUpdate("d_pair", pair_discriminator_loss, needs_weight="adv_img"),
        DiscriminatorUpdate("embedding", embedding_loss, needs_weight="unet_cgan_triplet"),
    ),
    bundle=Networks.from_table,
    sample_columns=sample_columns,
    presets=PRESETS,
    default_preset="cpu",
)
