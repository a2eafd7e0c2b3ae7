"""Paste a face's edit back into the full-resolution photo.

The model works on a small aligned crop (64 or 128 pixels). Pasting its re-synthesised
face back would blur the photo, so the editor pastes only the *change* (the model's output
at the target expression minus its output at the recognised one): the change is smooth,
so upsampling it loses little, and every detail of the original pixels stays.

The change is weighted by a feathered mask over the face (jaw line, with the brows lifted
to take in the forehead) that falls to exactly zero before the crop's border, so nothing
outside the face changes and no seam shows.

An edit (:class:`PixelEdit`) may also carry a displacement field, a backward warp of the
face in crop pixels (a model head that moves the face's shape): it is carried to the photo
through the same crop-to-photo transform and applied by resampling the photo itself, so
the face stays sharp at full resolution.
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class PixelEdit:
    """A model's :class:`~faceedit.core.models.contract.Edit` in crop pixels, masked; parts optional.

    ``image_change``: S×S×C float32 grey levels (C = 3 added to RGB; C = 1 moves luminance).
    ``displacement``: S×S×2 float32 crop pixels (dx, dy); output pixel (x, y) takes the
    face's pixel at (x + dx, y + dy). The image change is applied first (it is in the
    face's own frame), then the warp, so the change moves with the shape.
    ``overlay``: R×R×4 float32 over the same crop at R = a multiple of S pixels: RGB grey
    levels painted with coverage alpha *after* the warp (a mouth's new opening).
    """

    image_change: np.ndarray | None = None
    displacement: np.ndarray | None = None
    overlay: np.ndarray | None = None  # R×R×4 float32 (RGB grey levels, alpha), R a multiple of S


def _to_photo_region(
    field: np.ndarray, to_photo: np.ndarray, shape: tuple[int, ...]
) -> tuple[np.ndarray, tuple[int, int, int, int]] | None:
    """A crop-space field warped onto the photo rectangle the crop covers, and that rectangle.

    None when the crop lies outside the photo. Outside the crop the field is 0.
    """
    x0, y0, x1, y1 = crop_footprint(to_photo, field.shape[0], shape)
    if x1 <= x0 or y1 <= y0:
        return None
    to_region = to_photo.copy()
    to_region[:, 2] -= (x0, y0)
    warped = cv2.warpAffine(
        field, to_region, (x1 - x0, y1 - y0),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT, borderValue=0,
    )
    return warped, (x0, y0, x1, y1)


def apply_edit(pixels: np.ndarray, edit: PixelEdit, to_photo: np.ndarray) -> None:
    """Apply a crop-space edit to ``pixels`` (H×W×3 uint8, modified in place).

    Where the edit is zero, pixels keep their value exactly.
    """
    if edit.image_change is not None:
        paste_change(pixels, edit.image_change, to_photo)
    if edit.displacement is not None:
        warp_by_displacement(pixels, edit.displacement, to_photo)
    if edit.overlay is not None:
        size = edit.displacement.shape[0] if edit.displacement is not None else None
        paint_overlay(pixels, edit.overlay, to_photo, size)


def paint_overlay(pixels: np.ndarray, overlay: np.ndarray, to_photo: np.ndarray, crop_size: int | None) -> None:
    """Blend an RGBA crop-space overlay (R×R×4; R = scale × ``crop_size``) into ``pixels`` in place.

    ``to_photo`` maps crop pixels (of ``crop_size``) to the photo; the overlay's pixel
    centres sit at crop points (r + 0.5)/scale − 0.5. Where alpha is 0, pixels keep their
    value exactly.
    """
    resolution = overlay.shape[0]
    scale = 1.0 if crop_size is None else resolution / crop_size
    # overlay px → crop px: c = (r + 0.5)/scale − 0.5, then crop → photo.
    to_crop = np.array([[1.0 / scale, 0.0, 0.5 / scale - 0.5], [0.0, 1.0 / scale, 0.5 / scale - 0.5], [0, 0, 1]])
    overlay_to_photo = np.asarray(to_photo, np.float64) @ to_crop
    covered = np.nonzero(overlay[..., 3] > 0)
    # Only the covered rectangle (plus a pixel) is carried to the photo.
    r0, r1 = max(int(covered[0].min()) - 1, 0), min(int(covered[0].max()) + 2, resolution)
    c0, c1 = max(int(covered[1].min()) - 1, 0), min(int(covered[1].max()) + 2, resolution)
    part = np.array(overlay[r0:r1, c0:c1], np.float32)
    part[..., :3] *= part[..., 3:4]  # premultiplied: resampling must not pull in the black of alpha 0
    part_to_photo = (overlay_to_photo @ np.array([[1.0, 0.0, c0], [0.0, 1.0, r0], [0, 0, 1]]))[:2]
    h, w = part.shape[:2]
    corners = np.array([[-0.5, -0.5], [w - 0.5, -0.5], [-0.5, h - 0.5], [w - 0.5, h - 0.5]]) @ part_to_photo[:, :2].T + part_to_photo[:, 2]
    rect = _photo_rect(corners, pixels.shape, margin=1)
    if rect is None:
        return
    x0, y0, x1, y1 = rect
    warped = _warp_to_rect(part, part_to_photo, rect)
    alpha = warped[..., 3:4]
    inside = alpha[..., 0] > 0
    if not inside.any():
        return
    region = pixels[y0:y1, x0:x1]
    blended = region.astype(np.float32) * (1.0 - alpha) + warped[..., :3]
    region[inside] = np.clip(np.rint(blended[inside]), 0, 255).astype(np.uint8)


LANCZOS_MAX_PIXELS = 1_000_000
"""Warped rectangles up to this many pixels are resampled with Lanczos, larger ones bicubically."""


def _photo_rect(corners: np.ndarray, shape: tuple[int, ...], margin: int) -> tuple[int, int, int, int] | None:
    """The photo rectangle (x0, y0, x1, y1; clipped, exclusive end) around points, ``margin`` pixels wider; None if empty."""
    height, width = shape[:2]
    x0, y0 = (int(np.clip(np.floor(corners[:, k].min()) - margin, 0, limit)) for k, limit in ((0, width), (1, height)))
    x1, y1 = (int(np.clip(np.ceil(corners[:, k].max()) + 1 + margin, 0, limit)) for k, limit in ((0, width), (1, height)))
    return None if x1 <= x0 or y1 <= y0 else (x0, y0, x1, y1)


def _warp_to_rect(field: np.ndarray, to_photo: np.ndarray, rect: tuple[int, int, int, int]) -> np.ndarray:
    """``field`` carried by ``to_photo`` (2×3) onto the photo rectangle ``rect``, bilinear, 0 outside."""
    x0, y0, x1, y1 = rect
    to_region = np.array(to_photo, np.float64)
    to_region[:, 2] -= (x0, y0)
    return cv2.warpAffine(field, to_region, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def warp_by_displacement(pixels: np.ndarray, displacement: np.ndarray, to_photo: np.ndarray) -> None:
    """Resample ``pixels`` (in place) by a crop-space backward displacement field (S×S×2).

    A photo pixel p lies at crop point c = to_crop(p); its new value is the photo's value
    at to_photo(c + d(c)) = p + L·d(c), L being the linear part of ``to_photo``. Only the
    rectangle around the non-zero displacement is resampled (a face in a 12 MP photo
    covers about 3 MP of crop footprint); pixels whose displacement is zero keep their values.
    """
    moving = np.any(displacement != 0, axis=2)
    if not moving.any():
        return
    # L·d in crop space (2×2 per pixel on a small grid), then one warp to the photo.
    vectors = np.ascontiguousarray(displacement @ np.asarray(to_photo[:, :2], np.float32).T, np.float32)
    rows, cols = np.nonzero(moving)
    corners = np.array([[cols.min() - 1, rows.min() - 1], [cols.max() + 1, rows.min() - 1],
                        [cols.min() - 1, rows.max() + 1], [cols.max() + 1, rows.max() + 1]], np.float64)
    rect = _photo_rect(corners @ to_photo[:, :2].T + to_photo[:, 2], pixels.shape, margin=0)
    if rect is None:
        return
    x0, y0, x1, y1 = rect
    field = _warp_to_rect(vectors, to_photo, rect)
    grid_x = np.arange(x0, x1, dtype=np.float32)[None, :]
    grid_y = np.arange(y0, y1, dtype=np.float32)[:, None]
    # Sample the whole photo (offsets may reach a little outside the rectangle). A bilinear
    # resample at fractional offsets blurs a face: variance of the Laplacian 0.60× the
    # input's on a 512² London photo, 0.88× bicubic, 0.95× Lanczos. Lanczos costs 87 ms
    # per 2.25 MP (bicubic 16 ms), so large faces, whose detail spans several pixels
    # anyway, are resampled bicubically.
    interpolation = cv2.INTER_LANCZOS4 if (x1 - x0) * (y1 - y0) <= LANCZOS_MAX_PIXELS else cv2.INTER_CUBIC
    resampled = cv2.remap(pixels, field[:, :, 0] + grid_x, field[:, :, 1] + grid_y,
                          interpolation=interpolation, borderMode=cv2.BORDER_REPLICATE)
    # Where the field is 0 the resample is exact: remap quantises offsets to 1/32 pixel and
    # its kernels weigh a whole-pixel position 1 (tested), so those pixels keep their values.
    pixels[y0:y1, x0:x1] = resampled


def paste_change(pixels: np.ndarray, change: np.ndarray, to_photo: np.ndarray) -> None:
    """Apply a crop-space change to ``pixels`` (H×W×3 uint8, modified in place).

    ``change`` is size×size×C float32 in pixel units, already weighted by the face mask.
    C = 3: added to R, G and B. C = 1 (a luminance model): each pixel's luminance L moves by
    the change ΔL with its chromaticity kept, i.e. R, G and B are all scaled by
    (L + ΔL) / L. Adding ΔL to each channel instead would move the same luminance but grey
    out saturated and dark skin. Only the rectangle the crop covers is touched; where the
    warped change is zero, pixels keep their value exactly.
    """
    placed = _to_photo_region(change, to_photo, pixels.shape)
    if placed is None:
        return
    warped, (x0, y0, x1, y1) = placed
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
