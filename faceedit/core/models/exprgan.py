"""The ExprGAN family (Ding, Sricharan, Chellappa, AAAI 2018): one definition for app and trainer.

Parts, as in the authors' release (docs/ARCHITECTURE.md, "The ExprGAN family"), sized by
:class:`ExprGANConfig`:

- :class:`Encoder` G_enc: strided 5×5 convolutions down to 4×4, FC to the identity code
  z (tanh). It also carries a *recognition head* (as TER-GAN does in one network) that
  reads the face's current expression intensities from the same features, so the editor
  knows the source expression whose code it must subtract.
- :func:`expression_code` F_ctrl: maps six intensities in [0, 1] to the 30-d expression
  code. For one expression at intensity s it is the paper's controller with
  ``|z_y| = s·û``: the target block ``+s·û``, every other block ``−s·û``.
- :class:`Decoder` G_dec: FC to 4×4, nearest ×2 upsampling + 3×3 conv + ReLU per level,
  two 3×3 convs to the image (tanh); the code is broadcast-concatenated to every map.
- :class:`ImageDiscriminator` D_img with the regulariser Q on a shared trunk, and
  :class:`IdentityCodeDiscriminator` D_z (used by the trainer only).

Images are N×C×S×S tensors in [−1, 1] (C = 3 for RGB, 1 for luminance models; the
conventions are owned by :mod:`faceedit.core.models.pixels`). :class:`Generator` is what a
model file holds; it implements the family contract (:mod:`faceedit.core.models.contract`):
an edit is the decoder's output at the target intensities minus its output at the
recognised ones, an image change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from faceedit.core.expressions import EXPRESSIONS
from faceedit.core.models.contract import Edit, FaceReading, ModelFamily, ConfigDict, channels_name, check_image_options
from faceedit.core.models.recogniser import ExpressionClassifier, read_intensities
from faceedit.core.models.shape import (
    ShapeReading, check_shape_options, describe_shape, read_shape, register_shape_buffers, shape_edit, uses_warped_network,
)


@dataclass(frozen=True)
class ExprGANConfig(ConfigDict):
    """Architecture of one model; stored in every model file so nothing is re-typed as flags.

    ``width`` multiplies every channel count (1.0 = the paper's size); ``image_channels``
    is 3 for RGB models and 1 for models that edit luminance only.
    """

    image_size: int = 128
    width: float = 1.0
    z_dim: int = 50
    num_expressions: int = len(EXPRESSIONS)
    code_per_expression: int = 5
    image_channels: int = 3
    # True: the model also moves the face's shape, by per-expression landmark displacements
    # learned from data (faceedit.core.models.geometry; `faceedit-train geometry`).
    geometry: bool = False
    # Where the appearance change comes from: "decoder" (the paper's: decode at the target
    # minus decode at the recognised intensities), "mean_ratio" (a learned per-expression
    # luminance ratio in the mean face's frame, carried onto each face; needs geometry) or
    # "warped_network" (the network was trained on faces warped into the mean face's frame,
    # so it draws appearance without shape: per face and expression, the luminance ratio of
    # decode(z, expression) to decode(z, neutral), carried onto the face; needs geometry).
    appearance: str = "decoder"
    # True: where an expression opens the mouth further, the model paints the opening with
    # a learned mouth interior (teeth, cavity; faceedit.core.models.mouth); needs geometry.
    mouth_interior: bool = False
    # 0: the encoder's recognition head reads a face's expression (the paper's network).
    # > 0: a separate classifier of this width, trained on whole faces, reads it instead
    # (faceedit.core.models.recogniser; `faceedit-train recognition --network`).
    recogniser_width: int = 0

    def __post_init__(self) -> None:
        check_shape_options(self, network_appearance="decoder", warped=True)
        check_image_options(self)
        if self.z_dim < 1 or self.num_expressions < 1 or self.code_per_expression < 1:
            raise ValueError("z_dim, num_expressions and code_per_expression must be positive")
        if self.recogniser_width < 0:
            raise ValueError("recogniser_width must be 0 (the encoder's head) or positive")
        if self.recogniser_width and self.num_expressions != len(EXPRESSIONS):
            raise ValueError(f"a recogniser names the {len(EXPRESSIONS)} expressions; this model has {self.num_expressions}")

    @property
    def levels(self) -> int:
        """Number of ×2 steps between the 4×4 bottleneck and the image (5 at 128 px)."""
        return int(math.log2(self.image_size // 4))

    @property
    def code_dim(self) -> int:
        return self.num_expressions * self.code_per_expression

    def scaled(self, channels: int) -> int:
        """A channel count of the paper's network scaled by ``width`` (at least 4)."""
        return max(4, int(round(channels * self.width)))

    def encoder_channels(self) -> list[int]:
        # Paper at 128 px: 64, 128, 256, 512, 1024; smaller images use the first levels.
        return [self.scaled(64 * 2**i) for i in range(self.levels)]

    def decoder_channels(self) -> list[int]:
        # Paper at 128 px: 4×4×1024, then 512, 256, 128, 64, 32 after each upsampling.
        top = 64 * 2 ** (self.levels - 1)
        return [self.scaled(top // 2**i) for i in range(self.levels + 1)]


def expression_code(intensities: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
    """F_ctrl: six intensities (N×K, in [0, 1]) → expression code (N×K·d).

    Block k is ``(2·s_k − max_j s_j)·û``. With one expression at s this is the paper's
    controller (target ``+s·û``, the rest ``−s·û``); all zeros (neutral) gives the zero
    code; mixtures stay distinguishable (the map is invertible: ``max s = max block``).
    """
    peak = intensities.amax(dim=1, keepdim=True)
    blocks = 2.0 * intensities - peak
    return (blocks.unsqueeze(-1) * direction).flatten(1)


def paper_code(labels: torch.Tensor, magnitude: torch.Tensor, num_expressions: int) -> torch.Tensor:
    """The paper's training-time controller: ``c_i = |z_y|·(2·y_i − 1)``.

    ``labels`` are class indices (N,), ``magnitude`` is ``|z_y|`` (N×d, non-negative).
    """
    signs = 2.0 * F.one_hot(labels, num_expressions).to(magnitude.dtype) - 1.0
    return (signs.unsqueeze(-1) * magnitude.unsqueeze(1)).flatten(1)


class Encoding(NamedTuple):
    """What the encoder reads from a face: identity code and expression intensities."""

    z: torch.Tensor  # N×z_dim in (−1, 1)
    intensities: torch.Tensor  # N×K in (0, 1), the recognised expression


def _conv_down(in_ch: int, out_ch: int) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, kernel_size=5, stride=2, padding=2)


class Encoder(nn.Module):
    """G_enc and the recognition head: image → (z, recognised intensities)."""

    def __init__(self, config: ExprGANConfig) -> None:
        super().__init__()
        channels = [config.image_channels, *config.encoder_channels()]
        self.convs = nn.ModuleList(_conv_down(a, b) for a, b in zip(channels[:-1], channels[1:]))
        flat = channels[-1] * 4 * 4
        self.to_z = nn.Linear(flat, config.z_dim)
        # Recognition head: the same trunk features → one intensity per expression.
        self.recognise = nn.Sequential(
            nn.Linear(flat, config.scaled(256)),
            nn.ReLU(inplace=True),
            nn.Linear(config.scaled(256), config.num_expressions),
        )

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """The trunk's flattened features, which both heads read (N×C·4·4)."""
        x = images
        for conv in self.convs:
            x = F.relu(conv(x), inplace=True)
        return x.flatten(1)

    def forward(self, images: torch.Tensor) -> Encoding:
        x = self.features(images)
        return Encoding(torch.tanh(self.to_z(x)), torch.sigmoid(self.recognise(x)))


def _inside(size: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """3×size: row k is 1 where a 3×3 kernel's tap k (offset k − 1) reads inside the image."""
    position = torch.arange(size, device=device)[None, :] + torch.arange(-1, 2, device=device)[:, None]
    return ((position >= 0) & (position < size)).to(dtype)


class _CodeConv(nn.Module):
    """A 3×3 convolution whose input is a feature map with the expression code appended."""

    def __init__(self, in_ch: int, code_dim: int, out_ch: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch + code_dim, out_ch, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        if self.training or torch.is_autocast_enabled(x.device.type):
            return self._forward_split(x, code)
        n, _, h, w = x.shape
        code_map = code[:, :, None, None].expand(n, code.shape[1], h, w)
        return self.conv(torch.cat([x, code_map], dim=1))

    def _forward_split(self, x: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        """The same function as ``forward`` in eval mode, without building the code map.

        The code map is constant over the image, so its part of the convolution is, per
        kernel tap (i, j), one vector W_code[:, :, i, j]·code wherever that tap falls inside
        the image (zero padding). Computing it so skips a convolution over the code's
        channels (as many as the features' at 64 px) and the concatenation's copies:
        measured faster in training (bench/bench_train.py) and in bfloat16 inference
        (a paper-size decoder pass 19.4 → 17.1 ms). Equal to the concatenated form up to
        float rounding; float32 inference keeps the concatenated form, so float32 edits of
        released models do not change by a bit.
        """
        _, c, h, w = x.shape
        weight = self.conv.weight
        features = F.conv2d(x, weight[:, :c], self.conv.bias, padding=1)
        taps = torch.einsum("okij,nk->noij", weight[:, c:], code.to(weight.dtype))
        rows = _inside(h, x.device, taps.dtype)
        cols = rows if w == h else _inside(w, x.device, taps.dtype)
        return features + torch.einsum("noij,iy,jx->noyx", taps, rows, cols).to(features.dtype)


class Decoder(nn.Module):
    """G_dec: (z, expression code) → image in [−1, 1]."""

    def __init__(self, config: ExprGANConfig) -> None:
        super().__init__()
        channels = config.decoder_channels()
        code_dim = config.code_dim
        self.top_channels = channels[0]
        self.fc = nn.Linear(config.z_dim + code_dim, channels[0] * 4 * 4)
        self.ups = nn.ModuleList(
            _CodeConv(a, code_dim, b) for a, b in zip(channels[:-1], channels[1:])
        )
        self.refine = _CodeConv(channels[-1], code_dim, config.scaled(16))
        self.to_image = _CodeConv(config.scaled(16), code_dim, config.image_channels)

    def forward(self, z: torch.Tensor, code: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.fc(torch.cat([z, code], dim=1)), inplace=True)
        x = x.view(z.shape[0], self.top_channels, 4, 4)
        for up in self.ups:
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
            x = F.relu(up(x, code), inplace=True)
        x = F.relu(self.refine(x, code), inplace=True)
        return torch.tanh(self.to_image(x, code))


@dataclass(frozen=True)
class ExprGANReading(FaceReading):
    """ExprGAN's cached reading: the identity code and the decoder's output at the recognised intensities."""

    z: torch.Tensor  # N×z_dim in (−1, 1)
    base: torch.Tensor  # N×C×S×S, decode(z, recognised) (a warped-frame model's carried back onto the face)
    shape: ShapeReading | None = None  # the geometry models' warps and mouth state (faceedit.core.models.shape)

    @property
    def reconstruction(self) -> torch.Tensor:
        return self.base


class Generator(nn.Module):
    """What a model file holds: encoder (+ recognition), controller direction, decoder.

    Implements :class:`faceedit.core.models.contract.FaceModel` (``read``, ``render``).
    """

    def __init__(self, config: ExprGANConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.decoder = Decoder(config)
        # û, the fixed direction of the intensity axis in each code block. The paper
        # samples |u| with u ~ U(−1, 1)^d; û = 1 makes intensity 1 the strongest code.
        self.register_buffer("direction", torch.ones(config.code_per_expression))
        register_shape_buffers(self, config)  # geometry, mean-ratio maps, mouth template, as configured
        # Trained apart from the GAN (`faceedit-train recognition --network`); never in the GAN's losses.
        self.recogniser = ExpressionClassifier(width=config.recogniser_width).eval() if config.recogniser_width else None

    def train(self, mode: bool = True) -> Generator:
        super().train(mode)
        if self.recogniser is not None:
            self.recogniser.eval()  # its batch norms keep their statistics while the GAN trains
        return self

    def encode(self, images: torch.Tensor) -> Encoding:
        return self.encoder(images)

    def recognise(self, images: torch.Tensor, encoding: Encoding | None = None) -> torch.Tensor:
        """The expression intensities the faces show (N×K in [0, 1]): the recogniser's where the
        model has one, else the encoder's head (from ``encoding`` when given)."""
        if self.recogniser is not None:
            return read_intensities(self.recogniser, images)
        return (encoding if encoding is not None else self.encode(images)).intensities

    def code(self, intensities: torch.Tensor) -> torch.Tensor:
        return expression_code(intensities, self.direction)

    def decode(self, z: torch.Tensor, intensities: torch.Tensor) -> torch.Tensor:
        """Render identity ``z`` at the given six intensities (N×K in [0, 1])."""
        return self.decoder(z, self.code(intensities))

    def forward(self, images: torch.Tensor, intensities: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(images).z, intensities)

    # --- the family contract (inference) ---------------------------------------------

    def read(self, images: torch.Tensor, landmarks: torch.Tensor | None = None,
             starting: torch.Tensor | None = None) -> ExprGANReading:
        """Encode once and cache the decoder's output at the recognised intensities.

        A geometry model also caches each expression's warp of these faces (``landmarks``:
        N×68×2 crop pixels; without them the model edits appearance only), and a
        mouth-interior model what it needs to paint an opening mouth. ``starting``: see
        :meth:`FaceModel.read`.
        """
        if not (uses_warped_network(self.config) and landmarks is not None):
            encoding = self.encode(images)
            recognised = self.recognise(images, encoding) if starting is None else starting.to(encoding.intensities)
            base = self.decode(encoding.z, recognised)
            return ExprGANReading(recognised, encoding.z, base, read_shape(self, self.config, images, landmarks))
        # A warped-frame network sees the face with its shape taken out, and draws its ratio maps there.
        from faceedit.core.models.geometry import to_reference_images

        encoding = self.encode(to_reference_images(images, landmarks, self.landmark_reference))
        recognised = self.recognise(images, encoding) if starting is None else starting.to(encoding.intensities)
        base = to_reference_images(self.decode(encoding.z, recognised), landmarks, self.landmark_reference, back=True)
        maps = self.ratio_maps(encoding.z)
        return ExprGANReading(recognised, encoding.z, base, read_shape(self, self.config, images, landmarks, maps))

    def ratio_maps(self, z: torch.Tensor) -> torch.Tensor:
        """N×K×S×S: per face (identity ``z``) and expression, the log luminance ratio of the
        decoder's face at that expression (intensity 1) to its neutral face, in the frame the
        network was trained in (a "warped_network" model's: the mean face's), finished as the
        learned mean maps are (:func:`faceedit.core.models.geometry.finish_log_ratio`)."""
        from faceedit.core.models.geometry import LUMA_OFFSET, finish_log_ratio
        from faceedit.core.models.pixels import model_to_luma_levels

        n, k = z.shape[0], self.config.num_expressions
        codes = torch.cat([torch.zeros(1, k), torch.eye(k)]).to(z)  # neutral, then each expression alone
        luma = model_to_luma_levels(self.decode(z.repeat_interleave(k + 1, 0), codes.repeat(n, 1)))[:, 0]
        logs = torch.log(luma.clamp_min(0.0) + LUMA_OFFSET).reshape(n, k + 1, *luma.shape[1:])
        ratios = (logs[:, 1:] - logs[:, :1]).detach().cpu().numpy()
        reference_px = self.landmark_reference.detach().double().cpu().numpy() * self.config.image_size
        finished = [[finish_log_ratio(ratio, reference_px) for ratio in face] for face in ratios]
        return torch.from_numpy(np.asarray(finished, np.float32)).to(z.device)

    def render(self, reading: FaceReading, intensities: torch.Tensor) -> Edit:
        """The image change decode(z, target) − decode(z, recognised) (the decoder's own bias
        cancels), for a geometry model the warp Σ_k (target_k − recognised_k)·field_k, and
        for a mouth-interior model the overlay that paints the mouth's new opening."""
        assert isinstance(reading, ExprGANReading)
        steps = (intensities - reading.recognised).float()
        if uses_warped_network(self.config) and reading.shape is None:
            # Without landmarks a warped-frame network's change has no frame to be carried into.
            return shape_edit(self, self.config, None, steps, lambda: torch.zeros_like(reading.base))
        return shape_edit(self, self.config, reading.shape, steps, lambda: self.decode(reading.z, intensities) - reading.base)


class ImageDiscriminator(nn.Module):
    """D_img and Q: label-conditioned real/fake logit, and the regressed 30-d code."""

    def __init__(self, config: ExprGANConfig) -> None:
        super().__init__()
        self.num_expressions = config.num_expressions
        widths = [config.scaled(c) for c in (16, 32, 64, 128)]
        layers: list[nn.Module] = []
        in_ch = config.image_channels + config.num_expressions
        for out_ch in widths:
            layers += [_conv_down(in_ch, out_ch), nn.BatchNorm2d(out_ch), nn.LeakyReLU(0.2, inplace=True)]
            in_ch = out_ch
        self.trunk = nn.Sequential(*layers)
        side = config.image_size // 16
        self.fc = nn.Sequential(nn.Linear(in_ch * side * side, config.scaled(1024)), nn.LeakyReLU(0.2, inplace=True))
        self.real_fake = nn.Linear(config.scaled(1024), 1)
        self.q = nn.Linear(config.scaled(1024), config.code_dim)

    def forward(self, images: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``labels``: N×K label vectors (one-hot, or intensities for mixtures)."""
        n, _, h, w = images.shape
        label_maps = labels[:, :, None, None].expand(n, labels.shape[1], h, w)
        features = self.fc(self.trunk(torch.cat([images, label_maps], dim=1)).flatten(1))
        return self.real_fake(features).squeeze(1), self.q(features)


class IdentityCodeDiscriminator(nn.Module):
    """D_z: tells encoder codes from the uniform prior U(−1, 1)^z_dim."""

    def __init__(self, config: ExprGANConfig) -> None:
        super().__init__()
        dims = [config.z_dim, 64, 32, 16]
        layers: list[nn.Module] = []
        for a, b in zip(dims[:-1], dims[1:]):
            layers += [nn.Linear(a, b), nn.LeakyReLU(0.2, inplace=True)]
        self.net = nn.Sequential(*layers, nn.Linear(dims[-1], 1))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z).squeeze(1)


def _describe(config: ExprGANConfig) -> str:
    recogniser = f", recogniser ×{config.recogniser_width}" if config.recogniser_width else ""
    return f"ExprGAN {config.image_size}×{config.image_size} {channels_name(config)}, width ×{config.width:g}{describe_shape(config, 'decoder')}{recogniser}"


EXPRGAN = ModelFamily(
    name="exprgan",
    title="ExprGAN",
    paper="Ding, Sricharan & Chellappa, ExprGAN: Facial Expression Editing with Controllable Expression Intensity, AAAI 2018",
    config_from_dict=ExprGANConfig.from_dict,
    build=Generator,
    describe=_describe,
)
"""The ExprGAN entry of :data:`faceedit.core.models.families.FAMILIES`."""
