"""128-d face descriptors with our torch port of dlib's network, and their distance."""

from __future__ import annotations

import numpy as np
import torch

from faceedit.core.identity.chips import face_chip
from faceedit.core.identity.network import CHIP_SIZE, DlibFaceResNet
from faceedit.core.identity.weights import shared_dlib_resnet

# dlib's rule (and the loss layer's stored threshold): two descriptors closer than this
# (Euclidean) are the same person.
SAME_PERSON_THRESHOLD = 0.6


def descriptor_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance between two 128-d descriptors."""
    return float(np.linalg.norm(np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)))


def chips_to_tensor(chips: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """150×150×3 or N×150×150×3 uint8 chips → N×3×150×150 float32 (0..255) on ``device``."""
    array = np.asarray(chips)
    if array.ndim == 3:
        array = array[None]
    if array.shape[1:] != (CHIP_SIZE, CHIP_SIZE, 3):
        raise ValueError(f"expected 150×150×3 chips, got {array.shape}")
    return torch.from_numpy(np.ascontiguousarray(array)).to(device).permute(0, 3, 1, 2).float()


def chip_descriptors(
    chips: np.ndarray, device: torch.device | str = "cpu", network: DlibFaceResNet | None = None
) -> np.ndarray:
    """Descriptors (N×128 float32) of dlib chips (150×150×3 or N×150×150×3 uint8)."""
    network = network if network is not None else shared_dlib_resnet(device)
    device = next(network.parameters()).device
    with torch.no_grad():
        return network(chips_to_tensor(chips, device)).cpu().numpy()


def face_descriptor(image_rgb: np.ndarray, landmarks: np.ndarray, device: torch.device | str = "cpu") -> np.ndarray:
    """The 128-d descriptor (float32) of the face with these landmarks (68×2 or 5×2, x y).

    Equals ``dlib.face_recognition_model_v1.compute_face_descriptor(img, shape)`` to ~1e-6.
    """
    return chip_descriptors(face_chip(image_rgb, landmarks), device)[0]
