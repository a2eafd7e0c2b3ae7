"""The expression editor: encode a face once, then render each slider state cheaply.

Runs on whichever thread owns the model (the CLI's main thread, the engine's worker);
an editor is not shared between threads. Per face, :meth:`ExpressionEditor.encode` aligns
it and asks the model to ``read`` it once (for ExprGAN: the encoder, and the decoder at
the recognised intensities); a slider change then costs one ``render`` (one decoder pass)
plus the paste-back of the resulting :class:`~faceedit.core.compositing.PixelEdit`.

The editor knows models only through the family contract
(:mod:`faceedit.core.models.contract`) and pixels only through
:mod:`faceedit.core.models.pixels`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from faceedit.core.alignment import AlignedFace, align_face
from faceedit.core.compositing import PixelEdit, apply_edit, face_mask
from faceedit.core.expressions import ExpressionTargets
from faceedit.core.errors import ModelFileError
from faceedit.core.faces import DetectedFace
from faceedit.core.models.contract import FaceReading
from faceedit.core.models.file import LoadedModel
from faceedit.core.models.pixels import change_to_pixels, crop_to_tensor, overlay_to_pixels


@dataclass(frozen=True)
class EncodedFace:
    """A face prepared for editing: alignment, mask, and the model's cached reading of it."""

    face: DetectedFace
    aligned: AlignedFace
    mask: np.ndarray  # size×size float32
    recognised: np.ndarray  # (K,) float32 in [0, 1]
    reading: FaceReading  # the model's cached reading (family-specific), on its device


class ExpressionEditor:
    """Edits faces with one loaded model. Not thread-safe: use it from one thread."""

    def __init__(self, model: LoadedModel) -> None:
        self.model = model
        self.size = model.info.config.image_size
        self._channels = model.info.config.image_channels

    def encode(self, pixels: np.ndarray, face: DetectedFace, starting: Sequence[float] | None = None) -> EncodedFace:
        """Align ``face`` in ``pixels`` (H×W×3 uint8 RGB) and run the encoder once.

        ``starting`` (K,): take the face as showing these intensities instead of what the
        model recognises (e.g. ``NEUTRAL_START``: "this face is neutral"); sliders then move from there.
        """
        return self.encode_aligned(face, align_face(pixels, face.landmarks, self.size, self.model.info.template), starting)

    @torch.inference_mode()
    def encode_aligned(self, face: DetectedFace, aligned: AlignedFace, starting: Sequence[float] | None = None) -> EncodedFace:
        """Let the model read an already aligned face once (the trainer's prepared crops too); ``starting`` as in :meth:`encode`."""
        with self.model.precision.autocast():
            images = crop_to_tensor(aligned.crop, self._channels, self.model.device)
            landmarks = torch.from_numpy(np.asarray(aligned.landmarks, np.float32))[None].to(self.model.device)
            given = None
            if starting is not None:
                given = torch.from_numpy(np.clip(np.asarray(starting, np.float32), 0.0, 1.0))[None].to(self.model.device)
            reading = self.model.network.read(images, landmarks, given)
        recognised = reading.recognised[0].float().cpu().numpy()
        return EncodedFace(face, aligned, face_mask(aligned.landmarks, self.size), recognised, reading)

    def start_from(self, encoded: EncodedFace, starting: Sequence[float] | None) -> EncodedFace:
        """``encoded`` read again, taken as showing ``starting`` (None: what the model recognises)."""
        return self.encode_aligned(encoded.face, encoded.aligned, starting)

    def recognise(self, pixels: np.ndarray, face: DetectedFace) -> np.ndarray:
        """The face's current intensities (K,), as the model reads them."""
        return self.encode(pixels, face).recognised

    @torch.inference_mode()
    def change(self, encoded: EncodedFace, intensities: np.ndarray) -> PixelEdit | None:
        """The masked crop-space edit (pixel units) that renders ``intensities``.

        ``None`` when ``intensities`` equal the recognised ones, or when the model's edit
        has no parts: nothing is to change.
        """
        intensities = np.asarray(intensities, dtype=np.float32)
        if np.array_equal(intensities, encoded.recognised):
            return None
        target = torch.from_numpy(intensities).to(self.model.device).unsqueeze(0)
        # The same precision as the reading: an edit is a difference of two renders.
        with self.model.precision.autocast():
            edit = self.model.network.render(encoded.reading, target)
        if edit.is_empty:
            return None
        mask = encoded.mask
        if edit.mask is not None:
            mask = mask * edit.mask[0, 0].float().cpu().numpy()
        image_change = None if edit.image_change is None else change_to_pixels(edit.image_change) * mask[:, :, None]
        displacement = None
        if edit.displacement is not None:
            displacement = edit.displacement[0].permute(1, 2, 0).float().cpu().numpy() * mask[:, :, None]
        overlay = None
        if edit.overlay is not None:
            overlay = overlay_to_pixels(edit.overlay[0], mask)
        if any(part is not None and not np.isfinite(part).all() for part in (image_change, displacement, overlay)):
            raise ModelFileError(
                f"the model {self.model.info.path} rendered a non-finite edit for this face; nothing was changed"
            )
        return PixelEdit(image_change, displacement, overlay)

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
                apply_edit(result, change, encoded.aligned.to_photo)
        return result
