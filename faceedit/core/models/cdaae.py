"""The CDAAE family (Zhou & Shi 2017): a conditional difference adversarial autoencoder.

Only the paper's abstract is available to this project; every part below quotes the
sentence it comes from, and every choice the abstract leaves open is named as ours.

- "we propose the conditional difference adversarial autoencoder, CDAAE": an autoencoder
  (:class:`Encoder` → identity code z, :class:`Decoder` → image) whose code is held to a
  prior by an adversary (the trainer's D_z) and whose decoder is *conditioned* on the
  expression label. Ours: the label is the six intensities in [0, 1] (not a one-hot
  class), so mixtures and every slider position are labels; z ∈ (−1, 1)^z_dim (tanh)
  with the uniform prior of ExprGAN's D_z; a second adversary on z (the trainer's
  D_expr) keeps expression out of the identity code.
- "The CDAAE adds a feedforward path to an autoencoder structure connecting low level
  features at the encoder to features at the corresponding level at the decoder": the
  encoder's first ``skip_levels`` feature maps (ours: two, at S/2 and S/4) are added to the
  decoder's maps of the same resolution and channel count (the channel counts are chosen
  to match, so the path is an addition, not a concatenation: cheaper, and the decoder
  must keep the encoder's feature meaning).
- "by learning to generate the difference between low-level features of images of the
  same person but with different facial expressions": on the path, :class:`FeatureDifference`
  adds Δ(f, t − s) to the encoder's features f before the decoder sees them, where s is
  the face's own intensities and t the target. Ours: Δ is *bilinear*, linear in the
  intensity difference (Δ = W_out ∗ (relu(W_in ∗ f) ⊙ A·(t − s)), no biases), so
  it is exactly zero when t = s, a mixture's difference is the sum of its expressions'
  differences, and intensities interpolate it linearly. The trainer fits Δ on the same
  person's pairs: the features of this face plus Δ for (partner − own) intensities should
  be the partner's features, and decode to the partner's photo.
- "The CDAAE structure can be used to generate novel expressions by combining and
  interpolating between facial expressions/action units": the decoder is conditioned on
  the six intensities (a per-channel bias from them at every level, and their
  concatenation with z at the first layer), so any intensity vector renders.
- The paper has no recognition head; the app needs to know where the sliders start, so
  the encoder also reads the face's six intensities from its top features (trained by
  the trainer on the real labels), as the ExprGAN family does.

Images are N×C×S×S in [−1, 1] (:mod:`faceedit.core.models.pixels`). :class:`CDAAE` is
what a model file holds and implements the family contract
(:mod:`faceedit.core.models.contract`): an edit is render(target) − render(recognised),
both from the cached reading, so it is exactly zero at the recognised intensities. The
shared geometry-plus-appearance options (:mod:`faceedit.core.models.shape`) work as for
ExprGAN. The adversaries and the image discriminator live in the trainer
(``trainer/families/cdaae.py``): the app never needs them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn
from torch.nn import functional as F

from faceedit.core.expressions import EXPRESSIONS
from faceedit.core.models.contract import Edit, FaceReading, ModelFamily, ConfigDict, channels_name, check_image_options
from faceedit.core.models.shape import (
    ShapeReading, check_shape_options, describe_shape, read_shape, register_shape_buffers, shape_edit,
)


@dataclass(frozen=True)
class CDAAEConfig(ConfigDict):
    """Architecture of one CDAAE model; stored in every model file.

    ``width`` multiplies every channel count (1.0: 64, 128, 256, 512 … per encoder
    level, as ExprGAN's encoder; the abstract gives no sizes). ``skip_levels`` is how many
    of the encoder's first (low-level) feature maps the feed-forward path carries to the
    decoder, each with its learned difference.
    """

    image_size: int = 128
    width: float = 1.0
    z_dim: int = 50
    num_expressions: int = len(EXPRESSIONS)
    image_channels: int = 3
    skip_levels: int = 2
    # The shared shape options (faceedit.core.models.shape): landmark geometry, where the
    # appearance change comes from ("network": this family's decoder, or "mean_ratio"),
    # and the painted mouth interior.
    geometry: bool = False
    appearance: str = "network"
    mouth_interior: bool = False

    def __post_init__(self) -> None:
        check_shape_options(self)
        check_image_options(self)
        if self.z_dim < 1 or self.num_expressions < 1:
            raise ValueError("z_dim and num_expressions must be positive")
        if not 1 <= self.skip_levels <= self.levels - 1:
            raise ValueError(f"skip_levels must be in 1…{self.levels - 1} at {self.image_size} px, not {self.skip_levels}")

    @property
    def levels(self) -> int:
        """Number of stride-2 levels between the image and the 4×4 top (4 at 64 px)."""
        return int(math.log2(self.image_size // 4))

    def scaled(self, channels: int) -> int:
        """A channel count scaled by ``width`` (at least 4)."""
        return max(4, int(round(channels * self.width)))

    def encoder_channels(self) -> list[int]:
        """Per encoder level (resolution S/2, S/4, … 4): 64, 128, 256 … × width."""
        return [self.scaled(64 * 2**i) for i in range(self.levels)]

    def decoder_channels(self) -> list[int]:
        """At 4×4, then after each ×2 upsampling; equal to the encoder's at the same resolution."""
        return [*reversed(self.encoder_channels()), self.scaled(32)]


class Encoding(NamedTuple):
    """What the encoder reads from faces."""

    z: torch.Tensor  # N×z_dim in (−1, 1), the identity code
    intensities: torch.Tensor  # N×K in (0, 1), the recognised expression (the recognition head)
    features: tuple[torch.Tensor, ...]  # the low-level maps the feed-forward path carries, finest first


class Encoder(nn.Module):
    """Image → (z, recognised intensities, low-level features): strided 5×5 convs down to 4×4."""

    def __init__(self, config: CDAAEConfig) -> None:
        super().__init__()
        self.skip_levels = config.skip_levels
        channels = [config.image_channels, *config.encoder_channels()]
        self.convs = nn.ModuleList(
            nn.Conv2d(a, b, kernel_size=5, stride=2, padding=2) for a, b in zip(channels[:-1], channels[1:])
        )
        flat = channels[-1] * 4 * 4
        self.to_z = nn.Linear(flat, config.z_dim)
        # Not in the paper: where the sliders start (trained on the real labels).
        self.recognise = nn.Sequential(
            nn.Linear(flat, config.scaled(256)), nn.ReLU(inplace=True), nn.Linear(config.scaled(256), config.num_expressions),
        )

    def forward(self, images: torch.Tensor) -> Encoding:
        x = images
        features = []
        for level, conv in enumerate(self.convs):
            x = F.relu(conv(x))
            if level < self.skip_levels:
                features.append(x)
        top = x.flatten(1)
        return Encoding(torch.tanh(self.to_z(top)), torch.sigmoid(self.recognise(top)), tuple(features))


class FeatureDifference(nn.Module):
    """Δ(f, d): the learned change of low-level features f for an intensity difference d (N×K).

    Bilinear in (features, d) and free of biases: Δ(f, 0) = 0 exactly; Δ(f, a + b) =
    Δ(f, a) + Δ(f, b) (expressions combine), Δ(f, λd) = λΔ(f, d) (intensities interpolate).
    """

    def __init__(self, channels: int, num_expressions: int) -> None:
        super().__init__()
        # Half as many hidden maps as the features have: the difference path runs at the
        # two finest resolutions, where a full-width pair of 3×3 convs cost a quarter of a
        # CPU training step.
        hidden = max(4, channels // 2)
        self.read = nn.Conv2d(channels, hidden, kernel_size=3, padding=1)
        self.gate = nn.Linear(num_expressions, hidden, bias=False)
        self.write = nn.Conv2d(hidden, channels, kernel_size=3, padding=1, bias=False)

    def forward(self, features: torch.Tensor, difference: torch.Tensor) -> torch.Tensor:
        gate = self.gate(difference.to(features.dtype))[:, :, None, None]
        return self.write(F.relu(self.read(features)) * gate)


class _ConditionedConv(nn.Module):
    """A 3×3 convolution plus a per-channel bias from the six intensities (the label condition).

    Equal to concatenating the label as constant maps (ExprGAN's way) except at the image's
    border, and much cheaper: the label's part of such a convolution is the same vector at
    every inner pixel.
    """

    def __init__(self, in_ch: int, out_ch: int, num_expressions: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel_size=3, padding=1)
        self.label = nn.Linear(num_expressions, out_ch, bias=False)

    def forward(self, x: torch.Tensor, intensities: torch.Tensor) -> torch.Tensor:
        return self.conv(x) + self.label(intensities.to(x.dtype))[:, :, None, None]


class Decoder(nn.Module):
    """(z, target intensities, carried features) → image in [−1, 1].

    FC → 4×4, then per level nearest ×2 upsampling + conditioned 3×3 conv + ReLU; where a
    level has the resolution of a carried encoder map, that map (already moved by its
    :class:`FeatureDifference`) is added. Two conditioned 3×3 convs make the image (tanh).
    """

    def __init__(self, config: CDAAEConfig) -> None:
        super().__init__()
        k = config.num_expressions
        channels = config.decoder_channels()
        self.top_channels = channels[0]
        self.levels = config.levels
        self.fc = nn.Linear(config.z_dim + k, channels[0] * 4 * 4)
        self.ups = nn.ModuleList(_ConditionedConv(a, b, k) for a, b in zip(channels[:-1], channels[1:]))
        self.refine = _ConditionedConv(channels[-1], config.scaled(16), k)
        self.to_image = _ConditionedConv(config.scaled(16), config.image_channels, k)
        # One difference module per carried level, finest first (the encoder's order).
        self.differences = nn.ModuleList(FeatureDifference(c, k) for c in config.encoder_channels()[: config.skip_levels])

    def carried(self, features: tuple[torch.Tensor, ...], difference: torch.Tensor) -> list[torch.Tensor]:
        """The feed-forward path: each low-level map plus its learned difference for ``difference`` (t − s)."""
        return [f + delta(f, difference) for f, delta in zip(features, self.differences)]

    def forward(self, z: torch.Tensor, intensities: torch.Tensor, carried: list[torch.Tensor]) -> torch.Tensor:
        intensities = intensities.to(z.dtype)
        x = F.relu(self.fc(torch.cat([z, intensities], dim=1))).view(z.shape[0], self.top_channels, 4, 4)
        for index, up in enumerate(self.ups):
            x = F.relu(up(F.interpolate(x, scale_factor=2.0, mode="nearest"), intensities))
            # After up index, the map has the resolution of encoder level (levels − 2 − index).
            level = self.levels - 2 - index
            if 0 <= level < len(carried):
                x = x + carried[level]
        x = F.relu(self.refine(x, intensities))
        return torch.tanh(self.to_image(x, intensities))


@dataclass(frozen=True)
class CDAAEReading(FaceReading):
    """CDAAE's cached reading: identity code, low-level features, the render at the recognised intensities."""

    z: torch.Tensor  # N×z_dim
    features: tuple[torch.Tensor, ...]  # the feed-forward path's encoder maps
    base: torch.Tensor  # N×C×S×S, render(recognised): the face as the network reads it
    shape: ShapeReading | None = None  # the geometry models' warps and mouth state

    @property
    def reconstruction(self) -> torch.Tensor:
        return self.base


class CDAAE(nn.Module):
    """What a CDAAE model file holds: encoder (+ recognition head) and decoder (+ difference path).

    Implements :class:`faceedit.core.models.contract.FaceModel` (``read``, ``render``).
    """

    def __init__(self, config: CDAAEConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        register_shape_buffers(self, config)  # geometry, mean-ratio maps, mouth template, as configured

    def encode(self, images: torch.Tensor) -> Encoding:
        return self.encoder(images)

    def generate(
        self, z: torch.Tensor, features: tuple[torch.Tensor, ...], source: torch.Tensor, target: torch.Tensor,
    ) -> torch.Tensor:
        """The faces of (z, features), which show ``source`` intensities, rendered at ``target`` (N×K)."""
        return self.decoder(z, target, self.decoder.carried(features, target - source))

    def forward(self, images: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        encoding = self.encode(images)
        return self.generate(encoding.z, encoding.features, encoding.intensities, target)

    # --- the family contract (inference) ---------------------------------------------

    def read(self, images: torch.Tensor, landmarks: torch.Tensor | None = None,
             starting: torch.Tensor | None = None) -> CDAAEReading:
        """Encode once; cache z, the low-level features and the render at the recognised intensities
        (and, for a geometry model with ``landmarks``, each expression's warp of these faces).
        ``starting``: see :meth:`FaceModel.read`."""
        encoding = self.encode(images)
        recognised = encoding.intensities if starting is None else starting.to(encoding.intensities)
        base = self.generate(encoding.z, encoding.features, recognised, recognised)
        return CDAAEReading(recognised, encoding.z, encoding.features, base, read_shape(self, self.config, images, landmarks))

    def render(self, reading: FaceReading, intensities: torch.Tensor) -> Edit:
        """The image change render(target) − render(recognised), both from the cached reading (zero
        at the recognised intensities: the difference path is zero there and the renders are equal),
        plus the shared shape edit for geometry models."""
        assert isinstance(reading, CDAAEReading)
        steps = (intensities - reading.recognised).float()

        def change() -> torch.Tensor:
            target = intensities.to(reading.recognised.dtype)
            return self.generate(reading.z, reading.features, reading.recognised, target) - reading.base

        return shape_edit(self, self.config, reading.shape, steps, change)


def _describe(config: CDAAEConfig) -> str:
    return (f"CDAAE {config.image_size}×{config.image_size} {channels_name(config)}, width ×{config.width:g}, "
            f"{config.skip_levels} difference levels{describe_shape(config, 'network')}")


CDAAE_FAMILY = ModelFamily(
    name="cdaae",
    title="CDAAE",
    paper=("Zhou & Shi, Photorealistic Facial Expression Synthesis by the Conditional Difference Adversarial "
           "Autoencoder, arXiv:1708.09126, 2017"),
    config_from_dict=CDAAEConfig.from_dict,
    build=CDAAE,
    describe=_describe,
)
"""The CDAAE entry of :data:`faceedit.core.models.families.FAMILIES`."""
