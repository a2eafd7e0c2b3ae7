"""Face tracking for live video: detect now and then, follow with landmarks, smooth them.

Runs on whichever thread feeds it frames (the webcam's capture thread in the app); a
:class:`FaceTracker` is not shared between threads. Qt-free.

Why this shape
    dlib's HOG detector costs 15–30 ms on a 640×480 frame on our 2-core machines, its
    68-point shape predictor about 1 ms per face. So the full detector runs only every
    ``detect_every`` frames (and whenever a track looks lost), on a downscaled copy of the
    frame; in between, each face's landmarks are re-fitted by the shape predictor alone,
    in a box predicted from the previous (smoothed) landmarks and their velocity.

    The predictor's box must look like the detector's boxes it was trained on, or its
    fit drifts. Each track therefore remembers where the detector put the box relative
    to the landmarks (centre offset and size, in the face's own rotated frame, in units
    of face size) when it was found, and rebuilds that box from the landmarks each frame.

Smoothing: a One-Euro filter (Casiez, Roussel & Vogel, CHI 2012) per landmark
    A still face re-fitted on noisy camera frames jitters by a pixel or two, and an
    edit pasted with jittering landmarks shimmers. A fixed low-pass filter would remove
    the jitter but make the edit trail behind a moving head. The One-Euro filter is a
    low-pass whose cutoff rises with speed: at rest it smooths hard (``min_cutoff`` Hz),
    when a point moves fast the cutoff rises by ``beta`` × speed and lag all but
    disappears. Speeds are measured in face sizes per second, so the same settings work
    for a face near the camera and one far away. Each point adapts on its own, so a
    mouth that opens fast is followed quickly while the still parts stay smoothed.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import cv2
import numpy as np

from faceedit.core.faces import DetectedFace, face_detector

HOG_WINDOW = 80
"""dlib's frontal HOG detector finds faces down to about this size (pixels, detector box)."""


@dataclass(frozen=True)
class TrackerConfig:
    """How often to detect, how hard to smooth. Defaults suit 640×480 webcams."""

    detect_every: int = 10
    """Full detection every this many frames while every face is tracked (1 = always)."""
    min_face_width: int = 100
    """Smallest face (detector box width, frame pixels) the detector must find; it sets how far
    the frame is downscaled for detection (an 80-pixel HOG window at that scale)."""
    max_faces: int = 4
    max_misses: int = 1
    """A track that periodic detections miss this many times in a row is dropped. While a
    track is unconfirmed, detection runs on every frame, so a face that left goes quickly."""
    min_cutoff: float = 1.0
    """One-Euro cutoff at rest (Hz): lower = smoother still faces, more lag when starting to move."""
    beta: float = 4.0
    """One-Euro speed coefficient (Hz per face size per second): higher = less lag when moving."""
    d_cutoff: float = 1.0
    """Cutoff (Hz) of the filter on the speed estimate itself."""
    max_jump: float = 0.6
    """A re-fit whose centre lands further than this (in face sizes) from the prediction, or
    whose size changes by more than ``max_resize`` ×, is treated as lost: detect now."""
    max_resize: float = 1.35

    def __post_init__(self) -> None:
        if self.detect_every < 1 or self.max_faces < 1 or self.max_misses < 0:
            raise ValueError("detect_every and max_faces must be ≥ 1, max_misses ≥ 0")
        if self.min_face_width < 20:
            raise ValueError(f"min_face_width must be ≥ 20 pixels, not {self.min_face_width}")
        if self.min_cutoff <= 0 or self.beta < 0 or self.d_cutoff <= 0:
            raise ValueError("min_cutoff and d_cutoff must be > 0 and beta ≥ 0")


@dataclass(frozen=True, eq=False)  # eq=False: arrays
class TrackedFace:
    """One face in one frame: smoothed landmarks (use these) and the raw fit (for diagnostics)."""

    track_id: int
    landmarks: np.ndarray  # 68×2 float64, x y, frame pixels, smoothed (read-only)
    raw_landmarks: np.ndarray  # 68×2 float64, this frame's shape-predictor fit (read-only)
    box: tuple[int, int, int, int]  # detector-style box (x0, y0, x1, y1, exclusive) the fit used
    age: int  # frames since the face was first found
    misses: int  # periodic detections in a row that did not confirm this face (0 = confirmed)

    @property
    def detected_face(self) -> DetectedFace:
        """As a :class:`DetectedFace` (smoothed landmarks), for the photo pipeline's functions."""
        return DetectedFace(self.box, self.landmarks, 1.0)


@dataclass(frozen=True)
class TrackingResult:
    """What the tracker found in one frame, largest face first."""

    frame_index: int
    timestamp: float  # seconds, as given to (or taken by) :meth:`FaceTracker.update`
    faces: tuple[TrackedFace, ...]
    detected: bool  # whether the full detector ran on this frame
    milliseconds: float

    @property
    def landmarks(self) -> tuple[np.ndarray, ...]:
        """The smoothed landmarks of each face (what :class:`FrameRequest` takes)."""
        return tuple(face.landmarks for face in self.faces)


class OneEuroFilter:
    """One-Euro low-pass filter over an array of 2-D points (N×2), speed-adaptive per point.

    ``scale`` (per call) is the length that speeds are measured in, so that ``beta`` does
    not depend on how large the face is in the frame.
    """

    def __init__(self, min_cutoff: float, beta: float, d_cutoff: float) -> None:
        self.min_cutoff, self.beta, self.d_cutoff = min_cutoff, beta, d_cutoff
        self._x: np.ndarray | None = None
        self._dx: np.ndarray | None = None
        self._t = 0.0

    @staticmethod
    def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
        tau = 1.0 / (2.0 * math.pi * cutoff)
        return 1.0 / (1.0 + tau / dt)

    @property
    def value(self) -> np.ndarray | None:
        return None if self._x is None else self._x.copy()

    @property
    def velocity(self) -> np.ndarray:
        """Smoothed velocity (units per second), zeros before two samples."""
        if self._dx is None:
            return np.zeros((0, 2)) if self._x is None else np.zeros_like(self._x)
        return self._dx.copy()

    def __call__(self, x: np.ndarray, t: float, scale: float = 1.0) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        if self._x is None:
            self._x, self._dx, self._t = x.copy(), np.zeros_like(x), t
            return x.copy()
        dt = t - self._t
        if dt <= 0:  # a repeated timestamp: nothing new to learn from time
            return self._x.copy()
        self._t = t
        raw_speed = (x - self._x) / dt
        self._dx = self._dx + self._alpha(self.d_cutoff, dt) * (raw_speed - self._dx)
        speed = np.linalg.norm(self._dx, axis=-1, keepdims=True) / max(scale, 1e-6)
        alpha = self._alpha(self.min_cutoff + self.beta * speed, dt)
        self._x = self._x + alpha * (x - self._x)
        return self._x.copy()


# --- face geometry -------------------------------------------------------------------


def _frame_of(landmarks: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Centre, size and roll of a face: the centroid, the RMS radius, the eye line's angle.

    The RMS radius is rotation-invariant and, unlike the eye distance, barely changes
    when the head turns sideways.
    """
    centre = landmarks.mean(axis=0)
    size = float(np.sqrt(((landmarks - centre) ** 2).sum(axis=1).mean()))
    eyes = landmarks[42:48].mean(axis=0) - landmarks[36:42].mean(axis=0)
    return centre, size, math.atan2(eyes[1], eyes[0])


def _rotation(angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    return np.array([[c, -s], [s, c]])


@dataclass(frozen=True)
class _BoxModel:
    """Where the detector put the box, relative to the landmarks' frame (face-size units)."""

    offset: np.ndarray  # box centre − landmark centre, in the face's unrotated frame
    width: float
    height: float

    @classmethod
    def calibrate(cls, box: tuple[int, int, int, int], landmarks: np.ndarray) -> _BoxModel:
        centre, size, angle = _frame_of(landmarks)
        box_centre = np.array([(box[0] + box[2]) / 2.0, (box[1] + box[3]) / 2.0])
        offset = _rotation(-angle) @ (box_centre - centre) / max(size, 1e-6)
        return cls(offset, (box[2] - box[0]) / max(size, 1e-6), (box[3] - box[1]) / max(size, 1e-6))

    def box(self, landmarks: np.ndarray) -> tuple[float, float, float, float]:
        centre, size, angle = _frame_of(landmarks)
        cx, cy = centre + _rotation(angle) @ self.offset * size
        half_w, half_h = self.width * size / 2.0, self.height * size / 2.0
        return cx - half_w, cy - half_h, cx + half_w, cy + half_h


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _int_box(box: tuple[float, ...]) -> tuple[int, int, int, int]:
    return int(round(box[0])), int(round(box[1])), int(round(box[2])), int(round(box[3]))


@dataclass
class _Track:
    track_id: int
    box_model: _BoxModel
    filter: OneEuroFilter
    smoothed: np.ndarray
    raw: np.ndarray
    box: tuple[int, int, int, int]
    last_time: float
    age: int = 0
    misses: int = 0


_Box = tuple[int, int, int, int]
_Fit = tuple[_Track, np.ndarray, _Box, bool]  # track, raw landmarks, box used, plausible
_Kept = tuple[_Track, np.ndarray, _Box]


def _frozen(array: np.ndarray) -> np.ndarray:
    array = np.array(array, dtype=np.float64)
    array.setflags(write=False)  # results cross threads: nobody may change them
    return array


class FaceTracker:
    """Follows the faces of a video stream frame by frame. One instance per stream and thread.

    Call :meth:`update` with each frame (or only the newest ones: timestamps keep the
    smoothing right when frames are skipped). The detector and shape predictor are
    loaded on the first call, on the calling thread (about a second).
    """

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self._hog = None
        self._predictor = None
        self._tracks: list[_Track] = []
        self._next_id = 0
        self._frame_index = -1
        self._since_detection = 0
        self._start = time.monotonic()

    def reset(self) -> None:
        """Forget every face (a new source, a cut in the video)."""
        self._tracks.clear()
        self._frame_index = -1
        self._since_detection = 0

    @property
    def tracks(self) -> int:
        return len(self._tracks)

    def update(self, pixels: np.ndarray, timestamp: float | None = None) -> TrackingResult:
        """Track the faces of one H×W×3 RGB (or H×W grey) uint8 frame.

        ``timestamp`` in seconds (the frame's time in a file, or its capture time); by
        default the time of the call.
        """
        start = time.perf_counter()
        t = time.monotonic() - self._start if timestamp is None else float(timestamp)
        grey = pixels if pixels.ndim == 2 else cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY)
        grey = np.ascontiguousarray(grey)
        if self._predictor is None:
            self.load()
        self._frame_index += 1
        self._since_detection += 1

        fits = [self._refit(track, grey, t) for track in self._tracks]
        must_detect = (
            not self._tracks
            or not all(plausible for *_, plausible in fits)
            or any(track.misses for track in self._tracks)
            or self._since_detection >= self.config.detect_every
        )
        if must_detect:
            kept = self._detect_and_match(grey, fits)
            self._since_detection = 0
        else:
            kept = [(track, raw, box) for track, raw, box, _ in fits]

        faces = []
        for track, raw, box in kept:
            track.smoothed = track.filter(raw, t, scale=_frame_of(raw)[1])  # speeds in face sizes/s
            track.raw, track.box, track.last_time = raw, box, t
            faces.append(TrackedFace(track.track_id, _frozen(track.smoothed), _frozen(raw), box, track.age, track.misses))
            track.age += 1
        faces.sort(key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]), reverse=True)
        return TrackingResult(self._frame_index, t, tuple(faces), must_detect, (time.perf_counter() - start) * 1000.0)

    # --- steps -------------------------------------------------------------------------

    def load(self) -> None:
        """Load the detector and shape predictor now (about a second; otherwise the first update does)."""
        if self._predictor is not None:
            return
        import dlib

        self._hog = dlib.get_frontal_face_detector()  # cheap; the shared detector's is private
        self._predictor = face_detector()  # this thread's shape predictor (the expensive part)

    def _refit(self, track: _Track, grey: np.ndarray, t: float) -> _Fit:
        """Fit landmarks in a box predicted from the track's motion; is the fit plausible?"""
        dt = max(0.0, min(t - track.last_time, 0.2))  # extrapolate at most 0.2 s
        predicted = track.smoothed + track.filter.velocity * dt
        box = _int_box(track.box_model.box(predicted))
        raw = self._predictor.landmarks(grey, box)
        centre, size, _ = _frame_of(raw)
        predicted_centre, predicted_size, _ = _frame_of(predicted)
        height, width = grey.shape
        plausible = (
            np.linalg.norm(centre - predicted_centre) <= self.config.max_jump * predicted_size
            and 1 / self.config.max_resize <= size / max(predicted_size, 1e-6) <= self.config.max_resize
            and 0 <= centre[0] < width
            and 0 <= centre[1] < height
        )
        return track, raw, box, bool(plausible)

    def _detect(self, grey: np.ndarray) -> list[tuple[int, int, int, int]]:
        """Detector boxes in full-frame pixels, found on a copy downscaled as far as allowed."""
        height, width = grey.shape
        scale = min(1.0, HOG_WINDOW / self.config.min_face_width)
        small = grey if scale == 1.0 else cv2.resize(
            grey, (max(1, round(width * scale)), max(1, round(height * scale))), interpolation=cv2.INTER_AREA
        )
        rects, _, _ = self._hog.run(small, 0, 0.0)
        boxes = []
        for rect in rects:
            box = (
                int(np.clip(round(rect.left() / scale), 0, width)),
                int(np.clip(round(rect.top() / scale), 0, height)),
                int(np.clip(round((rect.right() + 1) / scale), 0, width)),
                int(np.clip(round((rect.bottom() + 1) / scale), 0, height)),
            )
            if box[2] - box[0] >= 8 and box[3] - box[1] >= 8:
                boxes.append(box)
        return boxes

    def _detect_and_match(self, grey: np.ndarray, fits: list[_Fit]) -> list[_Kept]:
        """Confirm, re-anchor or drop the tracks with a full detection; start tracks for new faces."""
        boxes = self._detect(grey)
        unused = list(range(len(boxes)))
        kept = []
        # Greedy matching, best overlap first, so two nearby faces do not swap tracks.
        pairs = sorted(
            ((_iou(fit[2], boxes[j]), i, j) for i, fit in enumerate(fits) for j in unused), reverse=True
        )
        matched: dict[int, int] = {}
        for overlap, i, j in pairs:
            if overlap < 0.3:
                break
            if i not in matched and j not in matched.values():
                matched[i] = j
        for i, (track, raw, box, plausible) in enumerate(fits):
            if i in matched:
                j = matched[i]
                unused.remove(j)
                track.misses = 0
                if _iou(box, boxes[j]) < 0.6:
                    # The track drifted (or the face moved fast): fit again in the detector's box.
                    box = boxes[j]
                    raw = self._predictor.landmarks(grey, box)
                    track.box_model = _BoxModel.calibrate(box, raw)
                kept.append((track, raw, box))
            elif plausible:  # an implausible fit that no detection confirms: the face is gone
                track.misses += 1
                if track.misses <= self.config.max_misses:
                    kept.append((track, raw, box))
        self._tracks = [track for track, _, _ in kept]
        # New faces, largest first, up to the limit.
        for j in sorted(unused, key=lambda j: (boxes[j][2] - boxes[j][0]) * (boxes[j][3] - boxes[j][1]), reverse=True):
            if len(self._tracks) >= self.config.max_faces:
                break
            if any(_iou(boxes[j], box) > 0.3 for _, _, box in kept):
                continue  # overlaps a face already tracked (a second, offset detection)
            box = boxes[j]
            raw = self._predictor.landmarks(grey, box)
            cfg = self.config
            track = _Track(
                self._next_id, _BoxModel.calibrate(box, raw), OneEuroFilter(cfg.min_cutoff, cfg.beta, cfg.d_cutoff),
                raw, raw, box, 0.0,
            )
            self._next_id += 1
            self._tracks.append(track)
            kept.append((track, raw, box))
        return kept
