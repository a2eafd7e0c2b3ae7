"""Paste a face's change back into the full-resolution photo.

The model works on a small aligned crop (64 or 128 pixels). Pasting its re-synthesised
face back would blur the photo, so the editor pastes only the *change* (the model's output
at the target expression minus its output at the recognised one): the change is smooth,
so upsampling it loses little, and every detail of the original pixels stays.

The change is weighted by a feathered mask over the face (jaw line, with the brows lifted
to take in the forehead) that falls to exactly zero before the crop's border, so nothing
outside the face changes and no seam shows.
"""

from __future__ import annotations

import cv2
import numpy as np

from faceedit.core.alignment import crop_footprint, five_points


def face_mask(landmarks: np.ndarray, size: int) -> np.ndarray:
    """A feathered face mask in crop space: size×size float32 in [0, 1].

    ``landmarks`` are the face's 68 points in crop pixels. The mask is 1 over the face,
    falls off smoothly over about 6 % of the crop, and is 0 on the crop's outer border.
    """
    pts = np.asarray(landmarks, dtype=np.float64)
    left_eye, right_eye = five_points(pts)[:2]
    eye_distance = float(np.hypot(*(right_eye - left_eye)))
    up = (right_eye - left_eye) / max(eye_distance, 1e-6)
    up = np.array([up[1], -up[0]])  # perpendicular to the eye line, towards the forehead
    brows = pts[17:27] + 0.55 * eye_distance * up
    outline = np.vstack([pts[0:17], brows])
    hull = cv2.convexHull(np.round(outline * 4).astype(np.int32))  # 2 fractional bits
    mask = np.zeros((size, size), np.float32)
    cv2.fillConvexPoly(mask, hull, 1.0, lineType=cv2.LINE_AA, shift=2)
    sigma = 0.03 * size
    mask = cv2.GaussianBlur(mask, (0, 0), sigmaX=sigma, sigmaY=sigma)
    # Force the outer band to zero so the warped change has no edge at the crop border.
    ramp = np.clip((np.minimum(np.arange(size), np.arange(size)[::-1]) - 1) / (0.04 * size), 0.0, 1.0)
    return (mask * ramp[:, None] * ramp[None, :]).astype(np.float32)


# ITU-R BT.601 luma, the luminance a 1-channel model edits.
_LUMA_ROW = np.array([[0.299, 0.587, 0.114]], np.float32)
LUMA_FLOOR = 16.0
"""A luminance change scales a pixel's R, G, B by (L + ΔL) / L; L below this counts as this
(near-black pixels would otherwise take huge factors)."""


def paste_change(pixels: np.ndarray, change: np.ndarray, to_photo: np.ndarray) -> None:
    """Apply a crop-space change to ``pixels`` (H×W×3 uint8, modified in place).

    ``change`` is size×size×C float32 in pixel units, already weighted by the face mask.
    C = 3: added to R, G and B. C = 1 (a luminance model): each pixel's luminance L moves by
    the change ΔL with its chromaticity kept, i.e. R, G and B are all scaled by
    (L + ΔL) / L. Adding ΔL to each channel instead would move the same luminance but grey
    out saturated and dark skin. Only the rectangle the crop covers is touched; where the
    warped change is zero, pixels keep their value exactly.
    """
    size = change.shape[0]
    x0, y0, x1, y1 = crop_footprint(to_photo, size, pixels.shape)
    if x1 <= x0 or y1 <= y0:
        return
    to_region = to_photo.copy()
    to_region[:, 2] -= (x0, y0)
    warped = cv2.warpAffine(
        change, to_region, (x1 - x0, y1 - y0),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT, borderValue=0,
    )
    region = pixels[y0:y1, x0:x1]
    if warped.ndim == 2 or warped.shape[2] == 1:
        luma = cv2.transform(region.astype(np.float32), _LUMA_ROW)
        gain = 1.0 + warped.reshape(warped.shape[:2]) / np.maximum(luma.reshape(warped.shape[:2]), LUMA_FLOOR)
        # One saturating, rounding pass; a factor of exactly 1 leaves a pixel's value as it was.
        region[...] = cv2.multiply(region, cv2.merge([gain, gain, gain]), dtype=cv2.CV_8U)
        return
    # One saturating, rounding pass (3× faster than numpy's astype/clip/rint chain at 12 MP);
    # adding exact zeros leaves a pixel's value as it was.
    region[...] = cv2.add(region, warped, dtype=cv2.CV_8U)
