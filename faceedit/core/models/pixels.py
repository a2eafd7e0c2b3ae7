"""The one owner of the models' pixel conventions: uint8 pixels ↔ model tensors.

Every model family sees faces as N×C×S×S float tensors in [−1, 1]: a uint8 value v maps
to ``v / 127.5 − 1``. C = 3 is RGB; C = 1 is luminance (ITU-R BT.601 luma of the RGB
crop), for models that edit brightness and leave a photo's colour to the paste-back. A
model file stores its :class:`PixelFormat`, and loading checks it against what the family
expects (:func:`faceedit.core.models.file.load_model`).

Pure functions; any thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

LUMA: tuple[float, float, float] = (0.299, 0.587, 0.114)
"""ITU-R BT.601 luma weights of R, G and B: what a 1-channel (luminance) model sees."""

PIXEL_SCALE = 127.5
"""One model unit is this many uint8 grey levels ([−1, 1] spans 0…255)."""

MODEL_RANGE: tuple[float, float] = (-1.0, 1.0)


@dataclass(frozen=True)
class PixelFormat:
    """How a model's tensors relate to pixels; stored in every model file as ``normalisation``."""

    channels: str  # "rgb" or "luma"
    range: tuple[float, float] = MODEL_RANGE

    @classmethod
    def for_channels(cls, image_channels: int) -> PixelFormat:
        if image_channels not in (1, 3):
            raise ValueError(f"image_channels must be 1 or 3, not {image_channels}")
        return cls("rgb" if image_channels == 3 else "luma")

    @property
    def image_channels(self) -> int:
        return 3 if self.channels == "rgb" else 1

    def to_dict(self) -> dict[str, Any]:
        return {"range": list(self.range), "channels": self.channels}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> PixelFormat:
        """Raises ValueError for a convention this version of faceedit does not implement."""
        channels = str(values.get("channels"))
        value_range = tuple(float(v) for v in values.get("range", ()))
        if channels not in ("rgb", "luma"):
            raise ValueError(f"pixel channels {channels!r} (this faceedit knows 'rgb' and 'luma')")
        if value_range != MODEL_RANGE:
            raise ValueError(f"pixel range {list(value_range)} (this faceedit maps pixels to [-1, 1])")
        return cls(channels, MODEL_RANGE)


def crop_to_tensor(crop: np.ndarray, image_channels: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """One aligned crop (S×S×3 uint8 RGB) → 1×C×S×S float32 model input in [−1, 1]."""
    # np.require copies only a crop that is not C-contiguous or not writable (torch needs both).
    x = torch.from_numpy(np.require(crop, requirements=["C", "W"])).to(device, torch.float32)
    x = x.permute(2, 0, 1).unsqueeze(0) / PIXEL_SCALE - 1.0
    if image_channels == 1:
        weights = torch.tensor(LUMA, device=x.device).view(1, 3, 1, 1)
        x = (x * weights).sum(dim=1, keepdim=True)
    return x


def uint8_to_model(images: torch.Tensor) -> torch.Tensor:
    """N×C×S×S uint8 tensors (the trainer's stored faces) → float model images in [−1, 1]."""
    return images.float() / PIXEL_SCALE - 1.0


def rgb_uint8_to_luma_uint8(images: torch.Tensor) -> torch.Tensor:
    """N×3×S×S uint8 RGB → N×1×S×S uint8 luma (rounded), the stored form of luminance faces."""
    weights = torch.tensor(LUMA).view(1, 3, 1, 1)
    return (images.float() * weights).sum(dim=1, keepdim=True).round().clamp(0, 255).to(torch.uint8)


def model_to_luma_levels(images: torch.Tensor) -> torch.Tensor:
    """N×C×S×S model images (C = 1 or 3) → N×1×S×S float luminance in grey levels (not clamped)."""
    levels = (images.float() + 1.0) * PIXEL_SCALE
    if levels.shape[1] == 3:
        weights = torch.tensor(LUMA, dtype=levels.dtype, device=levels.device).view(1, 3, 1, 1)
        levels = (levels * weights).sum(dim=1, keepdim=True)
    return levels


def rgb_to_luma(image: np.ndarray) -> np.ndarray:
    """H×W×3 RGB (any numeric type) → H×W×1 float32 luma, for comparing with a luminance model."""
    return (np.asarray(image, np.float32) @ np.asarray(LUMA, np.float32))[:, :, None]


def change_to_pixels(change: torch.Tensor) -> np.ndarray:
    """A 1×C×S×S difference of model images → S×S×C float32 in grey levels (uint8 units)."""
    return (change[0] * PIXEL_SCALE).permute(1, 2, 0).float().cpu().numpy()


def model_to_uint8(images: torch.Tensor) -> np.ndarray:
    """N×C×S×S model images → N×S×S×C uint8 (clamped to [−1, 1], rounded)."""
    return ((images.float().clamp(-1, 1) + 1) * PIXEL_SCALE).round().byte().permute(0, 2, 3, 1).cpu().numpy()


def model_to_float_pixels(image: torch.Tensor) -> np.ndarray:
    """One C×S×S model image → S×S×C float32 grey levels in [0, 255] (not rounded)."""
    return ((image.float().cpu() + 1.0) * PIXEL_SCALE).clamp(0, 255).permute(1, 2, 0).numpy()


def overlay_to_pixels(overlay: torch.Tensor, mask: np.ndarray) -> np.ndarray | None:
    """One 4×R×R overlay (RGB model units, alpha) → R×R×4 float32 (RGB grey levels, alpha),
    its alpha multiplied by ``mask`` (S×S, resized to R); None when nothing is covered."""
    import cv2

    pixels = overlay.float().cpu().permute(1, 2, 0).numpy().copy()
    resolution = pixels.shape[0]
    if mask.shape[0] != resolution:
        mask = cv2.resize(mask, (resolution, resolution), interpolation=cv2.INTER_LINEAR)
    pixels[..., 3] *= mask
    if not (pixels[..., 3] > 0).any():
        return None
    pixels[..., :3] = np.clip((pixels[..., :3] + 1.0) * PIXEL_SCALE, 0.0, 255.0)
    return pixels
