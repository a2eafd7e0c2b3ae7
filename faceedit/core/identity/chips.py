"""Face chips: dlib's 150×150 network input, and the fixed warp from faceedit's aligned crops.

Two ways in:
- :func:`face_chip` cuts a chip from a photo exactly as dlib does (dlib's own
  ``get_face_chip``; chip extraction is preprocessing, only the network is ported).
- :class:`CropToChip` turns faceedit's aligned crops (see :mod:`faceedit.core.alignment`)
  into dlib-style chips with one fixed, differentiable affine warp, for training losses.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from faceedit.core.alignment import TEMPLATE_5, similarity_transform
from faceedit.core.identity.network import CHIP_SIZE

CHIP_PADDING = 0.25  # dlib's default for the face-recognition network

# Where faceedit's five points (alignment.five_points order: eye centres left/right of the
# image, nose tip, mouth corners) land in a 150×150 dlib chip, in chip pixels with pixel
# centres at integers. Measured once: for the 170 London photos (neutral and smiling), dlib's
# 68-point landmarks → dlib.get_face_chip's mapping (recovered exactly by chipping images of
# the x and y coordinates) → mean position. Spread across faces is 1–3 px.
# tests/test_identity.py re-measures it where the data is available.
DLIB_CHIP_POINTS_5: np.ndarray = np.array(
    [
        [46.3, 47.0],
        [100.7, 47.2],
        [73.5, 73.8],
        [49.9, 103.6],
        [97.3, 103.5],
    ],
    dtype=np.float64,
)


def face_chip(image_rgb: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """The 150×150×3 uint8 chip ``dlib.get_face_chip(img, det, 150, 0.25)`` gives.

    ``landmarks``: 68×2 (dlib's 68-point predictor) or 5×2 (dlib's 5-point predictor),
    x, y in pixels. Only the landmarks matter to dlib's chip geometry.
    """
    import dlib  # lazily: dlib is slow to import and only needed here

    image = np.ascontiguousarray(image_rgb)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an H×W×3 uint8 RGB image, got {image.dtype} {image.shape}")
    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape not in ((68, 2), (5, 2)):
        raise ValueError(f"expected 68×2 or 5×2 landmarks, got {points.shape}")
    # dlib's shapes hold integer points (its predictors round too).
    ints = np.rint(points).astype(np.int64)
    left, top = ints.min(axis=0)
    right, bottom = ints.max(axis=0)
    rect = dlib.rectangle(int(left), int(top), int(right), int(bottom))
    detection = dlib.full_object_detection(rect, [dlib.point(int(x), int(y)) for x, y in ints])
    return dlib.get_face_chip(image, detection, size=CHIP_SIZE, padding=CHIP_PADDING)


def _homogeneous(m: np.ndarray) -> np.ndarray:
    return np.vstack([m, [0.0, 0.0, 1.0]])


def chip_to_template_matrix(
    template: np.ndarray = TEMPLATE_5, chip_points: np.ndarray = DLIB_CHIP_POINTS_5
) -> np.ndarray:
    """3×3 map from grid_sample's normalised chip coordinates to template coordinates.

    Chip side: ``affine_grid`` with ``align_corners=False`` puts pixel centre u at
    (2u + 1)/150 − 1. Template side: normalised crop coordinates in [0, 1].
    """
    template_to_chip = _homogeneous(similarity_transform(template, chip_points))
    half = CHIP_SIZE / 2.0
    normalised_to_chip_pixels = np.array([[half, 0.0, half - 0.5], [0.0, half, half - 0.5], [0.0, 0.0, 1.0]])
    return np.linalg.inv(template_to_chip) @ normalised_to_chip_pixels


class CropToChip(nn.Module):
    """Warp faceedit aligned crops (N×3×S×S, RGB in [−1, 1]) to dlib chips (N×3×150×150, 0..255).

    One fixed affine warp (bilinear), computed from the alignment template and dlib's chip
    geometry; differentiable with respect to the crops. Template coordinate t sits at crop
    pixel t·S − 0.5 (:func:`faceedit.core.alignment.template_points`; pixel centres at
    integers, as ``cv2.warpAffine`` produces). Chip areas
    outside the crop read as mid-grey (0 in crop units), close to dlib's mean pixel.
    """

    def __init__(self, template: np.ndarray = TEMPLATE_5, chip_points: np.ndarray = DLIB_CHIP_POINTS_5) -> None:
        super().__init__()
        matrix = torch.tensor(chip_to_template_matrix(template, chip_points), dtype=torch.float32)
        self.register_buffer("chip_to_template", matrix, persistent=False)

    def theta(self, crop_size: int) -> torch.Tensor:
        """The 2×3 ``affine_grid`` matrix for crops of side ``crop_size``."""
        # Template t → crop pixel p = t·S − 0.5 → grid_sample's (2p + 1)/S − 1 = 2t − 1,
        # the same for every crop size.
        matrix = self.chip_to_template
        to_crop = torch.tensor([[2.0, 0.0, -1.0], [0.0, 2.0, -1.0], [0.0, 0.0, 1.0]], dtype=matrix.dtype, device=matrix.device)
        return (to_crop @ matrix)[:2]

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        if crops.ndim != 4 or crops.shape[1] != 3 or crops.shape[2] != crops.shape[3]:
            raise ValueError(f"expected N×3×S×S crops, got {tuple(crops.shape)}")
        theta = self.theta(crops.shape[-1]).to(crops.dtype).expand(crops.shape[0], 2, 3)
        grid = F.affine_grid(theta, [crops.shape[0], 3, CHIP_SIZE, CHIP_SIZE], align_corners=False)
        chips = F.grid_sample(crops, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        return (chips + 1.0) * 127.5
