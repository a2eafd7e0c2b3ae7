"""dlib's face-recognition ResNet (``dlib_face_recognition_resnet_model_v1``) as a torch module.

The architecture is written out by hand after dlib's ``examples/dnn_face_recognition_ex.cpp``
(the file holds parameters only, not the wiring):

    input 150×150 RGB, (p − mean)/256
    stem     conv 7×7/2 (32, no padding) → affine → relu → max-pool 3×3/2      → 32×35×35
    alevel4  3 × residual(32)                                                 → 32×35×35
    alevel3  residual_down(64),  3 × residual(64)                             → 64×17×17
    alevel2  residual_down(128), 2 × residual(128)                            → 128×8×8
    alevel1  residual_down(256), 2 × residual(256)                            → 256×4×4
    alevel0  residual_down(256)                                               → 256×2×2
    global average pool → fc 256→128 without bias                             → 128

residual: relu(x + affine(conv3×3(relu(affine(conv3×3(x)))))) with padding 1.
residual_down: the first conv has stride 2 and no padding (dlib pads k/2 only at stride
1), and the shortcut is a 2×2/2 average pool of x, zero-padded to the new channel count.

The padding trap: at alevel1 the strided conv gives 3×3 while the pooled shortcut gives
4×4 (and 1×1 vs 2×2 at alevel0). dlib's ``add_prev`` zero-pads both operands to the larger
size, top-left aligned, so the block outputs are 4×4 and 2×2. Cropping to the smaller size
instead looks plausible and is wrong by ~0.3 in the descriptor.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from faceedit.core.errors import ModelFileError
from faceedit.core.identity.dat_reader import (
    AddPrevLayer,
    AffineLayer,
    ConvLayer,
    DlibNet,
    FcLayer,
    PoolLayer,
    ReluLayer,
)

CHIP_SIZE = 150
EMBEDDING_SIZE = 128
# dlib's input_rgb_image_sized means (R, G, B); the file stores them too and they are
# checked against these when weights are loaded.
PIXEL_MEANS = (122.782, 117.001, 104.298)
PIXEL_SCALE = 256.0

# (name, channels, blocks, first block downsamples), input side first.
LEVELS: tuple[tuple[str, int, int, bool], ...] = (
    ("alevel4", 32, 3, False),
    ("alevel3", 64, 4, True),
    ("alevel2", 128, 3, True),
    ("alevel1", 256, 3, True),
    ("alevel0", 256, 1, True),
)
# Names accepted by DlibFaceResNet.features, in network order.
FEATURE_LAYERS: tuple[str, ...] = ("stem",) + tuple(name for name, *_ in LEVELS) + ("embedding",)


class Affine(nn.Module):
    """dlib's ``affine_`` in conv mode: per-channel ``x·gamma + beta`` (folded batch norm)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addcmul(self.beta.view(1, -1, 1, 1), x, self.gamma.view(1, -1, 1, 1))


def add_padded(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """dlib's ``add_prev``: zero-pad both to the larger channels/rows/cols (top-left), add."""
    if a.shape == b.shape:
        return a + b
    channels, rows, cols = (max(a.shape[i], b.shape[i]) for i in (1, 2, 3))

    def pad(t: torch.Tensor) -> torch.Tensor:
        # F.pad takes (left, right, top, bottom, front, back) for the last three dims.
        return F.pad(t, (0, cols - t.shape[3], 0, rows - t.shape[2], 0, channels - t.shape[1]))

    return pad(a) + pad(b)


class ResidualBlock(nn.Module):
    """dlib's ``ares`` (identity shortcut) or ``ares_down`` (strided, pooled shortcut)."""

    def __init__(self, in_channels: int, channels: int, downsample: bool) -> None:
        super().__init__()
        self.downsample = downsample
        stride, padding = (2, 0) if downsample else (1, 1)
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride, padding)
        self.affine1 = Affine(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1)
        self.affine2 = Affine(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.affine2(self.conv2(F.relu(self.affine1(self.conv1(x)))))
        shortcut = F.avg_pool2d(x, 2, 2) if self.downsample else x
        return F.relu(add_padded(y, shortcut))


class DlibFaceResNet(nn.Module):
    """dlib's 128-d face descriptor network.

    ``forward(chips)``: N×3×150×150 float RGB in 0..255 (a ``dlib.get_face_chip`` chip,
    planar) → N×128 descriptors. Differentiable; works on any device. Build one with
    weights via :func:`faceedit.core.identity.load_dlib_resnet`.
    """

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("pixel_means", torch.tensor(PIXEL_MEANS, dtype=torch.float32).view(1, 3, 1, 1))
        self.stem_conv = nn.Conv2d(3, 32, 7, 2, 0)
        self.stem_affine = Affine(32)
        levels = {}
        in_channels = 32
        for name, channels, blocks, downsample in LEVELS:
            levels[name] = nn.Sequential(
                *(ResidualBlock(in_channels if i == 0 else channels, channels, downsample and i == 0) for i in range(blocks))
            )
            in_channels = channels
        self.levels = nn.ModuleDict(levels)
        self.fc = nn.Linear(in_channels, EMBEDDING_SIZE, bias=False)

    def _stages(self, chips: torch.Tensor) -> Iterator[tuple[str, torch.Tensor]]:
        """Yield (name, output) for each entry of FEATURE_LAYERS, lazily, in order."""
        x = (chips - self.pixel_means) / PIXEL_SCALE
        x = F.max_pool2d(F.relu(self.stem_affine(self.stem_conv(x))), 3, 2)
        yield "stem", x
        for name, level in self.levels.items():
            x = level(x)
            yield name, x
        yield "embedding", self.fc(x.mean(dim=(2, 3)))

    def forward(self, chips: torch.Tensor) -> torch.Tensor:
        for _, out in self._stages(chips):
            pass
        return out

    def features(self, chips: torch.Tensor, layers: Sequence[str] = ("alevel2", "alevel1", "embedding")) -> list[torch.Tensor]:
        """Outputs of the named stages (see FEATURE_LAYERS), in the order asked.

        Stops after the deepest stage asked for, so shallow features cost less.
        """
        unknown = [name for name in layers if name not in FEATURE_LAYERS]
        if unknown or not layers:
            raise ValueError(f"unknown feature layers {unknown}; choose from {FEATURE_LAYERS}")
        wanted = set(layers)
        found: dict[str, torch.Tensor] = {}
        for name, out in self._stages(chips):
            if name in wanted:
                found[name] = out
                if len(found) == len(wanted):
                    break
        return [found[name] for name in layers]

    def load_dlib_net(self, net: DlibNet) -> None:
        """Copy the parameters of a parsed dlib file in, checking every layer on the way.

        The file's layer sequence (input side first) must match this wiring exactly:
        kinds, shapes, strides and paddings; anything else raises ModelFileError.
        """
        if net.input_size != (CHIP_SIZE, CHIP_SIZE):
            raise ModelFileError(f"dlib network expects {net.input_size} inputs, not 150×150")
        if not np.allclose(net.input_means, PIXEL_MEANS, atol=1e-3):
            raise ModelFileError(f"unexpected input means {net.input_means}")
        layers = iter(net.layers)
        position = 0

        def take(kind: type) -> object:
            nonlocal position
            layer = next(layers, None)
            if not isinstance(layer, kind):
                raise ModelFileError(
                    f"dlib network layer {position} is {type(layer).__name__}, expected {kind.__name__}: "
                    "not dlib_face_recognition_resnet_model_v1"
                )
            position += 1
            return layer

        def conv(module: nn.Conv2d) -> None:
            layer = take(ConvLayer)
            if (
                layer.filters.shape != tuple(module.weight.shape)
                or layer.stride != module.stride
                or layer.padding != module.padding
                or layer.bias is None
            ):
                raise ModelFileError(
                    f"dlib conv layer {position - 1}: {layer.filters.shape} stride {layer.stride} padding "
                    f"{layer.padding}, expected {tuple(module.weight.shape)} {module.stride} {module.padding}"
                )
            module.weight.data.copy_(torch.from_numpy(layer.filters))
            module.bias.data.copy_(torch.from_numpy(layer.bias))

        def affine(module: Affine) -> None:
            layer = take(AffineLayer)
            if not layer.per_channel or layer.gamma.shape != tuple(module.gamma.shape):
                raise ModelFileError(f"dlib affine layer {position - 1} has shape {layer.gamma.shape}")
            module.gamma.data.copy_(torch.from_numpy(layer.gamma))
            module.beta.data.copy_(torch.from_numpy(layer.beta))

        def pool(kind: str, size: tuple[int, int], stride: tuple[int, int]) -> None:
            layer = take(PoolLayer)
            if (layer.kind, layer.size, layer.stride, layer.padding) != (kind, size, stride, (0, 0)):
                raise ModelFileError(f"dlib pool layer {position - 1} is {layer}, expected {kind} {size}/{stride}")

        conv(self.stem_conv)
        affine(self.stem_affine)
        take(ReluLayer)
        pool("max", (3, 3), (2, 2))
        for level in self.levels.values():
            for block in level:
                conv(block.conv1)
                affine(block.affine1)
                take(ReluLayer)
                conv(block.conv2)
                affine(block.affine2)
                if block.downsample:
                    pool("avg", (2, 2), (2, 2))
                take(AddPrevLayer)
                take(ReluLayer)
        pool("avg", (0, 0), (1, 1))
        fc = take(FcLayer)
        if fc.weight.shape != (self.fc.in_features, self.fc.out_features) or fc.bias is not None:
            raise ModelFileError(f"dlib fc layer has shape {fc.weight.shape}, expected (256, 128) without bias")
        # dlib stores [in, out] and computes x @ W; nn.Linear holds [out, in].
        self.fc.weight.data.copy_(torch.from_numpy(fc.weight.T.copy()))
        if next(layers, None) is not None:
            raise ModelFileError("dlib network file has more layers than dlib_face_recognition_resnet_model_v1")
        self.pixel_means.copy_(torch.tensor(net.input_means, dtype=torch.float32).view(1, 3, 1, 1))
