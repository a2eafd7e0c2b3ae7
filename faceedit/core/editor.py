"""The expression editor: encode a face once, then render each slider state cheaply.

Runs on whichever thread owns the model (the CLI's main thread, the engine's worker);
an editor is not shared between threads. Per face, :meth:`ExpressionEditor.encode` runs
the encoder once and caches the identity code, the recognised intensities and the
decoder's output at those intensities; a slider change then costs one decoder pass plus
the paste-back of the difference (see :mod:`faceedit.core.compositing`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from faceedit.core.alignment import AlignedFace, align_face
from faceedit.core.checkpoint import LoadedModel
from faceedit.core.compositing import face_mask, paste_change
from faceedit.core.expressions import ExpressionTargets
from faceedit.core.faces import DetectedFace

# ITU-R BT.601 luma weights, for models that edit luminance only.
_LUMA = (0.299, 0.587, 0.114)


@dataclass(frozen=True)
class EncodedFace:
    """A face prepared for editing: alignment, mask, and the model's cached reading of it."""

    face: DetectedFace
    aligned: AlignedFace
    mask: np.ndarray  # size×size float32
    recognised: np.ndarray  # (K,) float32 in [0, 1]
    z: torch.Tensor  # 1×z_dim, on the model's device
    base: torch.Tensor  # 1×C×S×S decoder output at the recognised intensities


class ExpressionEditor:
    """Edits faces with one loaded model. Not thread-safe: use it from one thread."""

    def __init__(self, model: LoadedModel) -> None:
        self.model = model
        self.size = model.info.config.image_size
        self._channels = model.info.config.image_channels

    def _to_input(self, crop: np.ndarray) -> torch.Tensor:
        x = torch.from_numpy(np.ascontiguousarray(crop)).to(self.model.device, torch.float32)
        x = x.permute(2, 0, 1).unsqueeze(0) / 127.5 - 1.0
        if self._channels == 1:
            weights = torch.tensor(_LUMA, device=x.device).view(1, 3, 1, 1)
            x = (x * weights).sum(dim=1, keepdim=True)
        return x

    def encode(self, pixels: np.ndarray, face: DetectedFace) -> EncodedFace:
        """Align ``face`` in ``pixels`` (H×W×3 uint8 RGB) and run the encoder once."""
        return self.encode_aligned(face, align_face(pixels, face.landmarks, self.size, self.model.info.template))

    @torch.inference_mode()
    def encode_aligned(self, face: DetectedFace, aligned: AlignedFace) -> EncodedFace:
        """Run the encoder once on an already aligned face (the trainer's prepared crops)."""
        generator = self.model.generator
        encoding = generator.encode(self._to_input(aligned.crop))
        base = generator.decode(encoding.z, encoding.intensities)
        recognised = encoding.intensities[0].float().cpu().numpy()
        return EncodedFace(face, aligned, face_mask(aligned.landmarks, self.size), recognised, encoding.z, base)

    def recognise(self, pixels: np.ndarray, face: DetectedFace) -> np.ndarray:
        """The face's current intensities (K,), as the model reads them."""
        return self.encode(pixels, face).recognised

    @torch.inference_mode()
    def change(self, encoded: EncodedFace, intensities: np.ndarray) -> np.ndarray | None:
        """The masked change (S×S×C float32, pixel units) that renders ``intensities``.

        ``None`` when ``intensities`` equal the recognised ones: nothing is to change.
        """
        intensities = np.asarray(intensities, dtype=np.float32)
        if np.array_equal(intensities, encoded.recognised):
            return None
        target = torch.from_numpy(intensities).to(self.model.device).unsqueeze(0)
        output = self.model.generator.decode(encoded.z, target)
        delta = ((output - encoded.base)[0] * 127.5).permute(1, 2, 0).float().cpu().numpy()
        return delta * encoded.mask[:, :, None]

    def render(
        self,
        pixels: np.ndarray,
        faces: Sequence[EncodedFace],
        targets: ExpressionTargets | Sequence[ExpressionTargets],
    ) -> np.ndarray:
        """A new photo with each face moved to its targets; ``pixels`` is not modified.

        ``targets`` is one slider state for all faces, or one per face. Where no face
        changes, the result is bit-identical to ``pixels``.
        """
        per_face = [targets] * len(faces) if isinstance(targets, ExpressionTargets) else list(targets)
        if len(per_face) != len(faces):
            raise ValueError(f"{len(faces)} faces but {len(per_face)} slider states")
        result = np.array(pixels, copy=True)
        for encoded, face_targets in zip(faces, per_face):
            change = self.change(encoded, face_targets.resolve(encoded.recognised))
            if change is not None:
                paste_change(result, change, encoded.aligned.to_photo)
        return result
