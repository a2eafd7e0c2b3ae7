"""Face alignment: a similarity transform from 68 dlib landmarks to a canonical template.

The template places five key points (eye centres, nose tip, mouth corners) in a square
crop, in coordinates normalised to [0, 1]. The crop has a margin around the face so that
forehead and chin (which move with expressions) are inside it.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

# Five-point template in normalised crop coordinates (x, y), image left to right:
# left-of-image eye centre, right-of-image eye centre, nose tip, mouth corners.
# Proportions follow the common ArcFace template, scaled so that the inter-ocular
# distance is 0.32 of the crop: chin near 0.82, the forehead up to the hairline inside.
TEMPLATE_5: np.ndarray = np.array(
    [
        [0.340, 0.400],
        [0.660, 0.400],
        [0.500, 0.583],
        [0.367, 0.769],
        [0.633, 0.769],
    ],
    dtype=np.float64,
)


def five_points(landmarks68: np.ndarray) -> np.ndarray:
    """Reduce dlib's 68 landmarks (68×2, x y in pixels) to the template's five points."""
    pts = np.asarray(landmarks68, dtype=np.float64)
    if pts.shape != (68, 2):
        raise ValueError(f"expected 68×2 landmarks, got {pts.shape}")
    return np.stack(
        [
            pts[36:42].mean(axis=0),  # eye on the image's left
            pts[42:48].mean(axis=0),  # eye on the image's right
            pts[30],  # nose tip
            pts[48],  # mouth corner, image left
            pts[54],  # mouth corner, image right
        ]
    )


def similarity_transform(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Least-squares similarity (rotation, uniform scale, translation) mapping source → target.

    Umeyama's closed form, without reflection. Returns a 2×3 matrix ``M`` with
    ``target ≈ source @ M[:, :2].T + M[:, 2]``.
    """
    src = np.asarray(source, dtype=np.float64)
    dst = np.asarray(target, dtype=np.float64)
    src_mean, dst_mean = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    covariance = dst_c.T @ src_c / len(src)
    u, singular, vt = np.linalg.svd(covariance)
    sign = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[-1] = -1.0
    rotation = u @ np.diag(sign) @ vt
    variance = (src_c**2).sum() / len(src)
    scale = float((singular * sign).sum() / variance)
    matrix = np.empty((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = dst_mean - matrix[:, :2] @ src_mean
    return matrix


def invert_affine(matrix: np.ndarray) -> np.ndarray:
    """Inverse of a 2×3 affine matrix."""
    full = np.vstack([matrix, [0.0, 0.0, 1.0]])
    return np.linalg.inv(full)[:2]


def apply_affine(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Map N×2 points through a 2×3 affine matrix."""
    pts = np.asarray(points, dtype=np.float64)
    return pts @ matrix[:, :2].T + matrix[:, 2]


@dataclass(frozen=True)
class AlignedFace:
    """A face warped to the template, with both transforms so edits can be pasted back.

    ``to_crop`` maps photo pixels to crop pixels, ``to_photo`` the other way. Pixel
    coordinates are those of pixel centres (OpenCV's convention).
    """

    crop: np.ndarray  # size×size×3 uint8 RGB
    to_crop: np.ndarray  # 2×3
    to_photo: np.ndarray  # 2×3
    landmarks: np.ndarray  # 68×2, in crop pixels

    @property
    def size(self) -> int:
        return int(self.crop.shape[0])

    @property
    def scale(self) -> float:
        """Photo pixels per crop pixel (how much larger the face is in the photo)."""
        return float(np.sqrt(abs(np.linalg.det(self.to_photo[:, :2]))))


def template_points(size: int, template: np.ndarray = TEMPLATE_5) -> np.ndarray:
    """The template's five points in pixel coordinates of a ``size``-pixel crop."""
    return np.asarray(template, dtype=np.float64) * size - 0.5


def align_face(
    pixels: np.ndarray, landmarks68: np.ndarray, size: int, template: np.ndarray = TEMPLATE_5
) -> AlignedFace:
    """Warp the face with these landmarks to a ``size``×``size`` crop matching the template.

    Areas of the crop outside the photo are filled by replicating the photo's edge, so a
    face at the border does not bring black wedges into the model's input.
    """
    to_crop = similarity_transform(five_points(landmarks68), template_points(size, template))
    source, to_source_crop = _prefiltered_source(pixels, to_crop, size)
    crop = cv2.warpAffine(source, to_source_crop, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return AlignedFace(crop, to_crop, invert_affine(to_crop), apply_affine(to_crop, landmarks68))


def crop_footprint(to_photo: np.ndarray, size: int, image_shape: tuple[int, ...], margin: int = 2) -> tuple[int, int, int, int]:
    """The photo rectangle (x0, y0, x1, y1; clipped, exclusive end) that a crop covers."""
    corners = apply_affine(to_photo, np.array([[-0.5, -0.5], [size - 0.5, -0.5], [-0.5, size - 0.5], [size - 0.5, size - 0.5]]))
    height, width = image_shape[:2]
    x0 = int(np.clip(np.floor(corners[:, 0].min()) - margin, 0, width))
    y0 = int(np.clip(np.floor(corners[:, 1].min()) - margin, 0, height))
    x1 = int(np.clip(np.ceil(corners[:, 0].max()) + margin + 1, 0, width))
    y1 = int(np.clip(np.ceil(corners[:, 1].max()) + margin + 1, 0, height))
    return x0, y0, x1, y1


def _prefiltered_source(pixels: np.ndarray, to_crop: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Shrink the face's region with area averaging first when the crop is much smaller.

    Bilinear warping alone would alias (skip pixels) when a 1000-pixel face becomes a
    128-pixel crop. Returns the source image and the matrix from it to the crop.
    """
    shrink = 1.0 / float(np.sqrt(abs(np.linalg.det(to_crop[:, :2]))))
    if shrink < 2.0:
        return pixels, to_crop
    x0, y0, x1, y1 = crop_footprint(invert_affine(to_crop), size, pixels.shape, margin=4)
    if x1 - x0 < 2 or y1 - y0 < 2:
        return pixels, to_crop
    factor = 1.0 / np.floor(shrink)
    region = pixels[y0:y1, x0:x1]
    small_w = max(1, int(round((x1 - x0) * factor)))
    small_h = max(1, int(round((y1 - y0) * factor)))
    small = cv2.resize(region, (small_w, small_h), interpolation=cv2.INTER_AREA)
    # small pixel centre (u, v) ↔ photo (x0 + (u + 0.5)·sx − 0.5, …)
    sx, sy = (x1 - x0) / small_w, (y1 - y0) / small_h
    small_to_photo = np.array([[sx, 0.0, x0 + 0.5 * sx - 0.5], [0.0, sy, y0 + 0.5 * sy - 0.5]])
    full = np.vstack([to_crop, [0, 0, 1]]) @ np.vstack([small_to_photo, [0, 0, 1]])
    return small, full[:2]


def already_aligned(crop: np.ndarray, landmarks: np.ndarray) -> AlignedFace:
    """An :class:`AlignedFace` for a crop that is already aligned (identity transforms)."""
    identity = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    return AlignedFace(np.ascontiguousarray(crop), identity, identity.copy(), np.asarray(landmarks, dtype=np.float64))
