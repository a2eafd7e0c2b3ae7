"""The mouth interior: what a warp cannot give when an expression opens the mouth.

A warp can only move the photo's own pixels. Where an expression parts the lips (an
open smile, surprise, fear), the output pixels between the lips have no source: a warp
stretches the lips' own texture across the gap, which reads as a pout or a swollen lip.
A model with a mouth interior paints that gap instead, in an *overlay* over the warped
face (:class:`faceedit.core.models.contract.Edit`):

- **Where:** the outline of the inner lips (dlib points 60–67, smooth between them) after the expression's
  landmark shifts, but only as far as the mouth opens more than it was open in the photo
  (a mouth that was already open keeps its own, warped interior).
- **What:** a learned template per expression over *mouth coordinates*: ``u`` runs 0…1
  from the left to the right inner mouth corner, ``t`` is the distance below the upper
  inner lip in inner mouth widths (0…:data:`DEPTH`). Upper teeth hang from the upper lip,
  so an open smile shows teeth near the upper lip and a dark cavity below them, whatever
  its height; a surprised mouth is mostly cavity. Where several expressions open the
  mouth at once, their templates mix by how far each opens it.
  ``faceedit-train geometry --mouth`` learns each expression's template from its training
  photos with open mouths (``trainer/geometry.py``), as RGB *relative to the face's light level*
  (:func:`light_level`: the whites of the eyes, or the cheeks where brighter), so that
  teeth follow the photo's exposure. A ratio to the skin alone would make teeth grey on
  dark skin and glaring on light skin.

The overlay is drawn at :data:`OVERLAY_SCALE` times the crop's resolution so that the
lip edge stays crisp when it is carried to a large photo. Pure numpy; runs on the
model's thread.
"""

from __future__ import annotations

import cv2
import numpy as np

UPPER_INNER_LIP: tuple[int, ...] = (60, 61, 62, 63, 64)
"""Inner-lip points from the left inner corner to the right, along the upper lip."""
LOWER_INNER_LIP: tuple[int, ...] = (60, 67, 66, 65, 64)
"""… and along the lower lip."""
INNER_MOUTH: tuple[int, ...] = (60, 61, 62, 63, 64, 65, 66, 67)
"""The inner-lip polygon: the opening of the mouth."""
LEFT_EYE: tuple[int, ...] = (36, 37, 38, 39, 40, 41)
RIGHT_EYE: tuple[int, ...] = (42, 43, 44, 45, 46, 47)

DEPTH = 0.6
"""The template covers ``t`` in [0, DEPTH] inner mouth widths below the upper inner lip."""
TEMPLATE_ROWS, TEMPLATE_COLUMNS = 40, 64
OVERLAY_SCALE = 4
"""The overlay's resolution, in multiples of the model's crop size."""
OPENING_RAMP = 0.04
"""An opening this much wider than the photo's own (in inner mouth widths) is painted fully."""
EYE_WHITE_PERCENTILE = 99.0
"""The eyes' whites: this percentile of the luminance inside the eye outlines (the iris is darker)."""
CHEEK_POINTS: tuple[tuple[int, int], ...] = ((2, 31), (14, 35), (3, 48), (13, 54))
"""Midpoints of these landmark pairs lie on the cheeks: the skin's level."""


def _mouth_frame(landmarks: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
    """Origin (left inner corner), inner mouth width, and the 2×2 matrix whose columns are the
    mouth's axes (along the corners, and perpendicular, pointing down the face)."""
    left, right = landmarks[60], landmarks[64]
    width = float(np.hypot(*(right - left)))
    along = (right - left) / max(width, 1e-6)
    down = np.array([-along[1], along[0]])
    return left, max(width, 1e-6), np.stack([along, down], axis=1)


def mouth_coordinates(points: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(u, t)`` of points (M×2, same pixels as ``landmarks``): see the module docstring."""
    origin, width, axes = _mouth_frame(landmarks)
    local = (np.asarray(points, np.float64) - origin) @ axes / width
    lips = (np.asarray(landmarks, np.float64)[list(UPPER_INNER_LIP)] - origin) @ axes / width
    upper = np.interp(local[:, 0], lips[:, 0], lips[:, 1])
    return local[:, 0], local[:, 1] - upper


def opening(landmarks: np.ndarray) -> float:
    """How far the lips are parted: mean gap of the three inner-lip pairs, in inner mouth widths."""
    points = np.asarray(landmarks, np.float64)
    _, width, axes = _mouth_frame(points)
    gaps = [(points[lower] - points[upper]) @ axes[:, 1] for upper, lower in ((61, 67), (62, 66), (63, 65))]
    return float(np.mean(gaps) / width)


def light_level(luma: np.ndarray, landmarks: np.ndarray) -> float:
    """How brightly the face is lit (grey levels), from a luminance crop (S×S float).

    The whites of the eyes (:data:`EYE_WHITE_PERCENTILE` inside each eye's outline,
    sampled at four times the crop's resolution; the brighter eye counts, one may be in
    shadow), or the skin of the cheeks where that is brighter. In a 64-pixel crop an eye
    is a few pixels tall and its white blurs into the lids; on London's evenly lit
    training photos, teeth measured 180–220 grey levels on light and dark skin alike
    while the eyes' whites measured 100–180, so the eyes alone would make teeth grey on
    dark skin.
    """
    points = np.asarray(landmarks, np.float64)
    image = np.asarray(luma, np.float32)
    levels = []
    for eye in (LEFT_EYE, RIGHT_EYE):
        outline = points[list(eye)]
        x0, y0 = np.floor(outline.min(axis=0)).astype(int)
        x1, y1 = np.ceil(outline.max(axis=0)).astype(int) + 1
        xs = np.linspace(x0, x1, 4 * (x1 - x0) + 1, dtype=np.float32)
        ys = np.linspace(y0, y1, 4 * (y1 - y0) + 1, dtype=np.float32)
        grid_x, grid_y = np.meshgrid(xs, ys)
        inside = np.zeros(grid_x.shape, np.uint8)
        polygon = np.round((outline - (x0, y0)) * 4 * 16).astype(np.int32)
        cv2.fillPoly(inside, [polygon], 1, shift=4)
        values = cv2.remap(image, grid_x, grid_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        if inside.any():
            levels.append(float(np.percentile(values[inside > 0], EYE_WHITE_PERCENTILE)))
    cheeks = [(points[a] + points[b]) / 2 for a, b in CHEEK_POINTS]
    height, width = image.shape
    skin = np.median([image[int(np.clip(round(y), 0, height - 1)), int(np.clip(round(x), 0, width - 1))] for x, y in cheeks])
    return max([float(skin), *levels])


def sample_interior(image: np.ndarray, landmarks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A photo's mouth opening in template coordinates: (rows×columns×C values, rows×columns coverage).

    Coverage is 1 where the template point lies between the inner lips, else 0. For
    learning the template (``faceedit-train geometry --mouth``).
    """
    points = np.asarray(landmarks, np.float64)
    origin, width, axes = _mouth_frame(points)
    u = np.linspace(0.0, 1.0, TEMPLATE_COLUMNS)
    t = np.linspace(0.0, DEPTH, TEMPLATE_ROWS)
    upper = (points[list(UPPER_INNER_LIP)] - origin) @ axes / width
    lower = (points[list(LOWER_INNER_LIP)] - origin) @ axes / width
    upper_v = np.interp(u, upper[:, 0], upper[:, 1])
    lower_v = np.interp(u, lower[:, 0], lower[:, 1])
    v = upper_v[None, :] + t[:, None]
    local = np.stack([np.broadcast_to(u, v.shape), v], axis=-1) * width
    photo = local @ axes.T + origin
    values = cv2.remap(np.asarray(image, np.float32), photo[..., 0].astype(np.float32), photo[..., 1].astype(np.float32),
                       cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    coverage = (v <= lower_v[None, :]).astype(np.float32)
    return values.reshape(TEMPLATE_ROWS, TEMPLATE_COLUMNS, -1), coverage


SAMPLES_PER_SEGMENT = 6
"""Points drawn on each stretch of the inner lips between two landmarks."""


def _lip_curve(points: np.ndarray, samples: int, axes: np.ndarray) -> np.ndarray:
    """A Catmull-Rom curve through ``points`` (M×2, one lip from corner to corner), ``samples``
    points per stretch, that never goes past its two landmarks across the mouth (along
    ``axes``' second column): no stretch bulges beyond the lip points that bound it."""
    padded = np.vstack([points[:1], points, points[-1:]])
    t = np.linspace(0.0, 1.0, samples, endpoint=False)[:, None]
    across = points @ axes[:, 1]
    curve = []
    for i in range(1, len(padded) - 2):
        p0, p1, p2, p3 = padded[i - 1], padded[i], padded[i + 1], padded[i + 2]
        part = 0.5 * (2 * p1 + (p2 - p0) * t + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2 + (3 * p1 - p0 - 3 * p2 + p3) * t**3)
        depth = part @ axes[:, 1]
        clamped = np.clip(depth, min(across[i - 1], across[i]), max(across[i - 1], across[i]))
        curve.append(part + (clamped - depth)[:, None] * axes[:, 1])
    return np.vstack([*curve, points[-1:]])


def inner_lip_outline(landmarks: np.ndarray) -> np.ndarray:
    """The opening of the mouth as a closed outline: smooth curves along the upper and the
    lower inner lip, meeting at the mouth corners (which stay corners).

    A polygon through the eight inner-lip landmarks would draw the opening with straight
    edges and an angle at every landmark, which shows when the overlay is carried to a
    large photo.
    """
    points = np.asarray(landmarks, np.float64)
    _, _, axes = _mouth_frame(points)
    upper = _lip_curve(points[list(UPPER_INNER_LIP)], SAMPLES_PER_SEGMENT, axes)
    lower = _lip_curve(points[list(LOWER_INNER_LIP)[::-1]], SAMPLES_PER_SEGMENT, axes)  # right corner → left
    return np.vstack([upper, lower[1:-1]])


def interior_overlay(
    landmarks_out: np.ndarray, opening_in: float, template: np.ndarray, light: float, size: int
) -> np.ndarray | None:
    """The RGBA overlay (R×R×4 float32, R = OVERLAY_SCALE·size; RGB grey levels, alpha 0…1) that
    paints the mouth's new opening, or None where the mouth opens no further than it was.

    ``landmarks_out``: the face's 68 points after the edit (crop pixels); ``opening_in``:
    :func:`opening` of the face as read; ``template``: 3×rows×columns, RGB relative to
    ``light`` (the face's :func:`light_level`).
    """
    points = np.asarray(landmarks_out, np.float64)
    strength = float(np.clip((opening(points) - opening_in) / OPENING_RAMP, 0.0, 1.0))
    if strength <= 0.0:
        return None
    scale = OVERLAY_SCALE
    resolution = scale * size
    # Crop pixel centres → overlay pixel centres: r = (c + 0.5)·scale − 0.5.
    scaled = (points + 0.5) * scale - 0.5
    polygon = inner_lip_outline(scaled)
    x0, y0 = np.clip(np.floor(polygon.min(axis=0)).astype(int) - 1, 0, resolution - 1)
    x1, y1 = np.clip(np.ceil(polygon.max(axis=0)).astype(int) + 2, 0, resolution)
    if x1 <= x0 or y1 <= y0:
        return None
    # OpenCV anti-aliases only 8-bit images (on float32 its LINE_AA draws a hard edge, which
    # showed as stair steps along the lips): draw at 0…255, then scale to 0…1.
    edge = np.zeros((y1 - y0, x1 - x0), np.uint8)
    cv2.fillPoly(edge, [np.round((polygon - (x0, y0)) * 16).astype(np.int32)], 255, lineType=cv2.LINE_AA, shift=4)
    coverage = edge.astype(np.float32) / 255.0
    rows, cols = np.nonzero(coverage)
    if rows.size == 0:
        return None
    u, t = mouth_coordinates(np.stack([cols + x0, rows + y0], axis=1).astype(np.float64), scaled)
    map_x = (np.clip(u, 0.0, 1.0) * (TEMPLATE_COLUMNS - 1)).astype(np.float32)[None]
    map_y = (np.clip(t / DEPTH, 0.0, 1.0) * (TEMPLATE_ROWS - 1)).astype(np.float32)[None]
    colours = np.stack([cv2.remap(np.ascontiguousarray(channel, np.float32), map_x, map_y, cv2.INTER_LINEAR,
                                  borderMode=cv2.BORDER_REPLICATE)[0] for channel in template], axis=-1)
    overlay = np.zeros((resolution, resolution, 4), np.float32)
    overlay[rows + y0, cols + x0, :3] = np.clip(colours * light, 0.0, 255.0)
    overlay[rows + y0, cols + x0, 3] = coverage[rows, cols] * strength
    return overlay
