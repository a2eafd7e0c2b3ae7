"""The U-Net conditional GAN family (Wang, Li, Mu, Huang, Wang; ICMR 2018, extended in ACM TOMM):
one definition for app and trainer.

Source: only the abstract ("U-Net Conditional GANs for Photo-Realistic and Identity-Preserving
Facial Expression Synthesis"); every layer size below is our choice, and where the abstract
leaves something open the docstring says what we chose and why.

Parts, sized by :class:`UNetCGANConfig`:

- :class:`UNetEncoder`, the U-Net's contracting half: "U-Net helps retain the property of the
  input face, including the identity information and facial details." Strided 4×4
  convolutions (LeakyReLU 0.2, no normalisation, so a reading does not depend on the batch)
  from the image down to 4×4; every level's output is a skip. It also carries a
  *recognition head* on the 4×4 bottleneck (our addition: the paper needs none, but the app
  must know where the sliders start), trained on real labels.
- :class:`UNetDecoder`, the expanding half: "Category condition is added to the U-Net model so
  that one-to-many expression synthesis can be achieved simultaneously." Open choices:
  the condition is the six target *intensities* in [0, 1] rather than a one-hot category
  (so a slider can stop anywhere and two expressions can mix; a one-hot category is the
  special case of one intensity at 1), broadcast as six constant maps and concatenated at
  the bottleneck *and* at every decoder level (nearest ×2 upsampling + 3×3 conv + ReLU, the
  skip of that level concatenated first). Skips at every level, the input face itself
  included as the full-resolution one (the abstract's "retain ... facial details"). The
  condition enters the decoder only, never the encoder: a face's skips are computed once
  when it is read and a slider move runs only the decoder half.
- :class:`Generator` holds both and implements the family contract
  (:mod:`faceedit.core.models.contract`): the edit is decode(skips, target) − decode(skips,
  recognised), both from the cached skips, so it is exactly zero at the recognised intensities.

The discriminator (conditioned on the expression and on a condition image of another
identity) and the identity embedding of the triplet loss are trainer-only; they live in
:mod:`trainer.families.unet_cgan`, which documents the objective.

Images are N×C×S×S tensors in [−1, 1] (:mod:`faceedit.core.models.pixels`).
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
class UNetCGANConfig(ConfigDict):
    """Architecture of one U-Net cGAN model; stored in every model file.

    ``width`` multiplies every channel count (1.0: 64, 128, 256, 512, 512 … channels from
    the top level down, pix2pix's U-Net widths; the abstract gives none). ``image_channels``
    is 3 for RGB models and 1 for luminance models. The shape options are the shared
    geometry-plus-appearance edit's (:mod:`faceedit.core.models.shape`).
    """

    image_size: int = 128
    image_channels: int = 3
    num_expressions: int = len(EXPRESSIONS)
    width: float = 1.0
    geometry: bool = False
    appearance: str = "network"
    mouth_interior: bool = False

    def __post_init__(self) -> None:
        check_shape_options(self)
        check_image_options(self)
        if self.num_expressions < 1:
            raise ValueError(f"num_expressions must be positive, not {self.num_expressions}")

    @property
    def levels(self) -> int:
        """Number of ×2 steps between the image and the 4×4 bottleneck (4 at 64 px, 5 at 128 px)."""
        return int(math.log2(self.image_size // 4))

    def scaled(self, channels: int) -> int:
        """A channel count of the full-width network scaled by ``width`` (at least 4)."""
        return max(4, int(round(channels * self.width)))

    def encoder_channels(self) -> list[int]:
        """Channels of each encoder level's output, top (S/2) to bottleneck (4×4)."""
        return [self.scaled(min(64 * 2**i, 512)) for i in range(self.levels)]


class UNetEncoding(NamedTuple):
    """What the encoder reads from a face: the skips of every level and the recognised intensities."""

    skips: tuple[torch.Tensor, ...]  # the input face, then each level's features, top to 4×4 bottleneck
    intensities: torch.Tensor  # N×K in (0, 1)


def _condition_maps(intensities: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """The K intensities as constant N×K×H×W maps the size of ``like``."""
    n, _, h, w = like.shape
    return intensities.to(like.dtype)[:, :, None, None].expand(n, intensities.shape[1], h, w)


class UNetEncoder(nn.Module):
    """The contracting half and the recognition head: image → (skips, recognised intensities)."""

    def __init__(self, config: UNetCGANConfig) -> None:
        super().__init__()
        channels = [config.image_channels, *config.encoder_channels()]
        self.downs = nn.ModuleList(
            nn.Conv2d(a, b, kernel_size=4, stride=2, padding=1) for a, b in zip(channels[:-1], channels[1:])
        )
        flat = channels[-1] * 4 * 4
        # Our addition: the app needs the face's own intensities (where the sliders start).
        self.recognise = nn.Sequential(
            nn.Linear(flat, config.scaled(256)), nn.ReLU(inplace=True), nn.Linear(config.scaled(256), config.num_expressions),
        )

    def forward(self, images: torch.Tensor) -> UNetEncoding:
        skips = [images]
        x = images
        for down in self.downs:
            x = F.leaky_relu(down(x), 0.2)
            skips.append(x)
        return UNetEncoding(tuple(skips), torch.sigmoid(self.recognise(x.flatten(1))))


class UNetDecoder(nn.Module):
    """The expanding half: (skips, target intensities) → image in [−1, 1]."""

    def __init__(self, config: UNetCGANConfig) -> None:
        super().__init__()
        k = config.num_expressions
        encoder = config.encoder_channels()
        # The condition at the bottleneck: the 4×4 features with the intensity maps appended.
        self.bottleneck = nn.Conv2d(encoder[-1] + k, encoder[-1], kernel_size=3, padding=1)
        # Level i (from the bottom): upsample, append that level's skip and the maps, conv.
        # Outputs match the skip's channels (the U-Net's symmetry); the top level (the
        # input face as skip) outputs scaled(32).
        skip_channels = [config.image_channels, *encoder[:-1]]  # skips above the bottleneck, top first
        outputs = [config.scaled(32), *encoder[:-1]]
        ins = encoder[::-1]  # the channels coming up from below at each level, bottom first
        self.ups = nn.ModuleList(
            nn.Conv2d(below + skip + k, out, kernel_size=3, padding=1)
            for below, skip, out in zip(ins, reversed(skip_channels), reversed(outputs))
        )
        self.to_image = nn.Conv2d(config.scaled(32), config.image_channels, kernel_size=3, padding=1)

    def forward(self, skips: tuple[torch.Tensor, ...], intensities: torch.Tensor) -> torch.Tensor:
        x = skips[-1]
        x = F.relu(self.bottleneck(torch.cat([x, _condition_maps(intensities, x)], dim=1)))
        for up, skip in zip(self.ups, reversed(skips[:-1])):
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
            x = F.relu(up(torch.cat([x, skip.to(x.dtype), _condition_maps(intensities, x)], dim=1)))
        return torch.tanh(self.to_image(x))


@dataclass(frozen=True)
class UNetCGANReading(FaceReading):
    """The cached reading: every skip of the face (so a render runs the decoder only) and its rendering as read."""

    skips: tuple[torch.Tensor, ...]
    base: torch.Tensor  # N×C×S×S, decode(skips, recognised)
    shape: ShapeReading | None = None  # geometry models' warps and mouth state (faceedit.core.models.shape)

    @property
    def reconstruction(self) -> torch.Tensor:
        return self.base


class Generator(nn.Module):
    """What a model file holds: the U-Net (encoder with recognition head, decoder).

    Implements :class:`faceedit.core.models.contract.FaceModel` (``read``, ``render``).
    """

    def __init__(self, config: UNetCGANConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = UNetEncoder(config)
        self.decoder = UNetDecoder(config)
        register_shape_buffers(self, config)  # geometry, mean-ratio maps, mouth template, as configured

    def encode(self, images: torch.Tensor) -> UNetEncoding:
        return self.encoder(images)

    def decode(self, skips: tuple[torch.Tensor, ...], intensities: torch.Tensor) -> torch.Tensor:
        """Render the faces whose skips these are at ``intensities`` (N×K in [0, 1])."""
        return self.decoder(skips, intensities)

    def forward(self, images: torch.Tensor, intensities: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(images).skips, intensities)

    # --- the family contract (inference) ---------------------------------------------

    def read(self, images: torch.Tensor, landmarks: torch.Tensor | None = None,
             starting: torch.Tensor | None = None) -> UNetCGANReading:
        """Run the encoder once; cache its skips and the decoder's output at the recognised intensities
        (and, for a geometry model with ``landmarks``, each expression's warp of these faces).
        ``starting``: see :meth:`FaceModel.read`."""
        encoding = self.encode(images)
        recognised = encoding.intensities if starting is None else starting.to(encoding.intensities)
        base = self.decode(encoding.skips, recognised)
        return UNetCGANReading(recognised, encoding.skips, base, read_shape(self, self.config, images, landmarks))

    def render(self, reading: FaceReading, intensities: torch.Tensor) -> Edit:
        """The image change decode(skips, target) − decode(skips, recognised) (decoder only; exactly
        zero at the recognised intensities), plus a geometry model's warp and mouth overlay."""
        assert isinstance(reading, UNetCGANReading)
        steps = (intensities - reading.recognised).float()
        return shape_edit(
            self, self.config, reading.shape, steps, lambda: self.decode(reading.skips, intensities) - reading.base
        )


def _describe(config: UNetCGANConfig) -> str:
    return (f"U-Net cGAN {config.image_size}×{config.image_size} {channels_name(config)}, width ×{config.width:g}"
            f"{describe_shape(config, 'network')}")


UNET_CGAN = ModelFamily(
    name="unet-cgan",
    title="U-Net cGAN",
    paper=(
        "Wang et al., U-Net Conditional GANs for Photo-Realistic and Identity-Preserving Facial Expression "
        "Synthesis, ACM Transactions on Multimedia Computing, Communications, and Applications (TOMM), 2019; "
        "extends Wang, Li, Mu, Huang & Wang, Facial Expression Synthesis by U-Net Conditional Generative "
        "Adversarial Networks, ICMR 2018, 283-290"
    ),
    config_from_dict=UNetCGANConfig.from_dict,
    build=Generator,
    describe=_describe,
)
"""The U-Net cGAN entry of :data:`faceedit.core.models.families.FAMILIES`."""
