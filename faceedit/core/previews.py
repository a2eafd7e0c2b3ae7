"""Small previews of one face at each expression ("pictures before words").

Runs on whichever thread owns the editor (the engine's worker). A preview is the photo
region around a face box, with the face moved to one slider state, shrunk to a fixed
height. Only the region is copied and edited, never the whole photo.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from faceedit.core.compositing import apply_edit
from faceedit.core.expressions import EXPRESSIONS, ExpressionTargets

if TYPE_CHECKING:  # the editor pulls in torch; this module does not need it at import
    from faceedit.core.editor import EncodedFace, ExpressionEditor

PREVIEW_HEIGHT = 96
"""Previews are this many pixels tall (and as wide as the region's shape gives)."""


def preview_targets() -> tuple[ExpressionTargets, ...]:
    """One slider state per expression (EXPRESSIONS order): that one at 1.0, the rest as recognised."""
    return tuple(ExpressionTargets().with_value(name, 1.0) for name in EXPRESSIONS)


@dataclass(frozen=True)
class PreviewRegion:
    """A rectangle of the photo (x0, y0 inclusive; x1, y1 exclusive) shown in a preview."""

    x0: int
    y0: int
    x1: int
    y1: int

    @classmethod
    def around(cls, box: tuple[int, int, int, int], shape: tuple[int, ...], margin: float = 0.35) -> PreviewRegion:
        """A square around a face box, ``margin`` of the box's size on each side, clipped to the photo."""
        bx0, by0, bx1, by1 = box
        side = max(bx1 - bx0, by1 - by0) * (1.0 + 2.0 * margin)
        cx, cy = (bx0 + bx1) / 2.0, (by0 + by1) / 2.0
        height, width = shape[:2]
        x0, y0 = int(np.clip(round(cx - side / 2), 0, width - 1)), int(np.clip(round(cy - side / 2), 0, height - 1))
        x1, y1 = int(np.clip(round(cx + side / 2), x0 + 1, width)), int(np.clip(round(cy + side / 2), y0 + 1, height))
        return cls(x0, y0, x1, y1)

    def crop(self, pixels: np.ndarray) -> np.ndarray:
        """A copy of the region's pixels (editable in place)."""
        return np.array(pixels[self.y0:self.y1, self.x0:self.x1], copy=True)

    def shift(self, to_photo: np.ndarray) -> np.ndarray:
        """A crop-to-photo transform (2×3) made to map into the region instead."""
        shifted = np.array(to_photo, dtype=np.float64, copy=True)
        shifted[:, 2] -= (self.x0, self.y0)
        return shifted


def shrink(pixels: np.ndarray, height: int = PREVIEW_HEIGHT) -> np.ndarray:
    """``pixels`` resized to ``height`` rows, aspect kept (area averaging when shrinking)."""
    rows, cols = pixels.shape[:2]
    width = max(1, round(cols * height / rows))
    interpolation = cv2.INTER_AREA if rows > height else cv2.INTER_LINEAR
    return np.ascontiguousarray(cv2.resize(pixels, (width, height), interpolation=interpolation), dtype=np.uint8)


def render_preview(
    editor: ExpressionEditor,
    pixels: np.ndarray,
    encoded: EncodedFace,
    region: PreviewRegion,
    targets: ExpressionTargets,
    height: int = PREVIEW_HEIGHT,
) -> np.ndarray:
    """The region of ``pixels`` with the face moved to ``targets``, ``height`` pixels tall (RGB uint8)."""
    image = region.crop(pixels)
    change = editor.change(encoded, targets.resolve(encoded.recognised))
    if change is not None:
        apply_edit(image, change, region.shift(encoded.aligned.to_photo))
    return shrink(image, height)
