"""Edit the expressions of the faces in a video file, frame-exact, with its sound.

Shared by ``faceedit video`` and the app's video export (on the engine's thread). Runs on
whichever thread calls it; the editor (and its model) must belong to that thread.

Per frame: the webcam's :class:`~faceedit.core.tracking.FaceTracker` follows the faces
(every frame is tracked, none skipped; time is the frame's own presentation time, so the
One-Euro smoothing sees the real spacing of variable-rate frames), and
:class:`~faceedit.core.live.LiveEditor` edits them, reusing a face's encoding while its
expression is steady, so the edit neither jitters nor flickers. The slider state at each
frame comes from a :class:`Timeline`: constant targets, with keyframes interpolated
linearly per expression.

The output is written atomically. Where no frame was changed (no face in the whole
video, or no slider set), and the output keeps the input's extension, the input's bytes
are copied instead of a re-encoded copy.
"""

from __future__ import annotations

import bisect
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from faceedit.core.errors import FaceeditError, OutputError
from faceedit.core.expressions import EXPRESSIONS, ExpressionTargets

if TYPE_CHECKING:  # the editor pulls in torch, the tracker cv2 and dlib: the GUI imports this module
    from faceedit.core.editor import ExpressionEditor
    from faceedit.core.tracking import FaceTracker, TrackerConfig, TrackingResult
    from faceedit.core.video import EncodingPlan, VideoInfo


VIDEO_ENCODING_MAX_AGE = 2.0
"""Seconds (of video time) a steady face's encoding is reused before it is read again."""
VIDEO_DETECT_EVERY = 5
"""Full face detection every this many frames (the webcam's 10 would let a face entering wait longer)."""


@dataclass(frozen=True)
class Keyframe:
    """One expression's target at one time (seconds)."""

    time: float
    expression: str
    value: float

    def __post_init__(self) -> None:
        if self.expression not in EXPRESSIONS:
            raise FaceeditError(f"unknown expression {self.expression!r} in a keyframe; known: {', '.join(EXPRESSIONS)}")
        if not 0.0 <= self.value <= 1.0:
            raise FaceeditError(f"keyframe value {self.value} for {self.expression} is outside [0, 1]")
        if not self.time >= 0.0:
            raise FaceeditError(f"keyframe time {self.time} must be ≥ 0 seconds")

    @classmethod
    def parse(cls, text: str) -> Keyframe:
        """``T:EXPRESSION=VALUE``, e.g. ``2.5:happiness=1``; raises FaceeditError with the reason."""
        try:
            when, rest = text.split(":", 1)
            name, value = rest.split("=", 1)
            return cls(float(when), name.strip().lower(), float(value))
        except ValueError:
            raise FaceeditError(f"keyframe {text!r} is not T:EXPRESSION=VALUE (e.g. 2.5:happiness=1)") from None


@dataclass(frozen=True)
class Timeline:
    """The slider state over time: ``base`` everywhere, keyframed expressions interpolated.

    An expression with keyframes holds its first keyframe's value before it, its last
    after it, and changes linearly in between; keyframes override ``base`` for their
    expression. Expressions without keyframes take ``base`` (None = keep recognised).
    """

    base: ExpressionTargets = field(default_factory=ExpressionTargets)
    keyframes: tuple[Keyframe, ...] = ()

    def at(self, seconds: float) -> ExpressionTargets:
        """The slider state at ``seconds`` (any thread)."""
        values = list(self.base.values)
        for index, name in enumerate(EXPRESSIONS):
            keys = sorted((k.time, k.value) for k in self.keyframes if k.expression == name)
            if keys:
                values[index] = _interpolate(keys, seconds)
        return ExpressionTargets(tuple(values))

    @property
    def is_empty(self) -> bool:
        """True when no slider is set at any time (the video stays as it is)."""
        return self.base.is_empty and not self.keyframes

    def with_keyframe(self, keyframe: Keyframe, tolerance: float = 1e-3) -> Timeline:
        """A timeline with ``keyframe`` added, replacing one of the same expression within ``tolerance`` s."""
        kept = tuple(
            k for k in self.keyframes
            if not (k.expression == keyframe.expression and abs(k.time - keyframe.time) <= tolerance)
        )
        return Timeline(self.base, tuple(sorted(kept + (keyframe,), key=lambda k: (k.time, k.expression))))


def _interpolate(keys: Sequence[tuple[float, float]], t: float) -> float:
    times = [time for time, _ in keys]
    i = bisect.bisect_right(times, t)
    if i == 0:
        return keys[0][1]
    if i == len(keys):
        return keys[-1][1]
    (t0, v0), (t1, v1) = keys[i - 1], keys[i]
    if t1 == t0:
        return v1
    return float(np.clip(v0 + (v1 - v0) * (t - t0) / (t1 - t0), 0.0, 1.0))


@dataclass(frozen=True)
class VideoEditJob:
    """What to edit: input, output, slider timeline, which face."""

    input: Path
    output: Path
    timeline: Timeline
    face_index: int | None = None  # None: every face; N: the N-th largest when it first appears
    overwrite: bool = False


@dataclass(frozen=True)
class VideoEditResult:
    """What was written."""

    output: Path
    frames: int
    frames_with_faces: int
    frames_changed: int
    faces_seen: int  # distinct tracks
    copied_unchanged: bool  # the input's bytes were copied (nothing to change)
    video_codec: str  # "copy" when copied

    def line(self) -> str:
        """One line for the person."""
        if self.copied_unchanged:
            reason = ("no face found in any frame" if self.frames_with_faces == 0
                      else "no slider set" if self.frames == 0 or self.faces_seen == 0 else "no frame needed a change")
            return f"{reason}: copied the input unchanged to {self.output}"
        if self.frames_with_faces == 0:
            return f"no face found in any frame: wrote {self.output} re-encoded ({self.frames} frames, {self.video_codec}), unedited"
        return (f"wrote {self.output}: {self.frames} frames ({self.video_codec}, sound copied), "
                f"{self.frames_with_faces} with a face, {self.frames_changed} edited, {self.faces_seen} face(s) tracked")


def prepare_video_job(job: VideoEditJob) -> tuple[VideoInfo, EncodingPlan]:
    """Check everything that can fail before any work: the input is a readable video, the
    output may be written (not the input, not existing unless overwrite, folder writable)
    and its container takes the codecs. Raises FaceeditError with one line."""
    from faceedit.core.atomic import check_writable
    from faceedit.core.video import plan_encoding, probe_video

    info = probe_video(job.input)
    if job.output.exists() and job.output.resolve() == job.input.resolve():
        raise OutputError(f"{job.output} is the input: faceedit never writes over its inputs")
    check_writable(job.output, overwrite=job.overwrite)
    return info, plan_encoding(info, job.output)


class FrameEditor:
    """Tracks and edits the frames of one video, in order. One per video and thread."""

    def __init__(self, editor: ExpressionEditor, timeline: Timeline, face_index: int | None = None,
                 tracker_config: TrackerConfig | None = None, tracker: FaceTracker | None = None) -> None:
        """``tracker``: reuse a loaded tracker (it is reset), e.g. one per preview; else a new one."""
        from faceedit.core.live import LiveEditor
        from faceedit.core.tracking import FaceTracker, TrackerConfig

        self.timeline, self.face_index = timeline, face_index
        if tracker is not None:
            tracker.reset()
        self.tracker = tracker or FaceTracker(tracker_config or TrackerConfig(detect_every=VIDEO_DETECT_EVERY))
        # A file is edited offline: a steady face keeps its encoding for up to 2 s (the webcam's
        # 1 s refreshes sooner); each re-encode can shift the edit slightly, so fewer is steadier
        # too. A change of expression still re-encodes at once (LiveEditor's tolerance).
        self.live = LiveEditor(editor, max_age=VIDEO_ENCODING_MAX_AGE)
        self._chosen_track: int | None = None
        self.tracks_seen: set[int] = set()
        self.frames_with_faces = self.frames_changed = 0
        self.last_tracking: TrackingResult | None = None

    def landmarks(self, tracking: TrackingResult) -> list[np.ndarray]:
        """The landmarks of the faces to edit in this frame (``face_index`` locks onto one track)."""
        faces = [f for f in tracking.faces if not f.detected_face.too_small]
        if self.face_index is None:
            return [f.landmarks for f in faces]
        ids = [f.track_id for f in faces]
        if self._chosen_track not in ids:
            self._chosen_track = ids[self.face_index] if self.face_index < len(ids) else None
        return [f.landmarks for f in faces if f.track_id == self._chosen_track]

    def edit(self, pixels: np.ndarray, seconds: float) -> np.ndarray:
        """The frame (H×W×3 RGB) at ``seconds`` with its faces moved to the timeline's state."""
        tracking = self.last_tracking = self.tracker.update(pixels, seconds)
        self.tracks_seen.update(f.track_id for f in tracking.faces)
        landmarks = self.landmarks(tracking)
        if not landmarks:
            return pixels
        self.frames_with_faces += 1
        targets = self.timeline.at(seconds)
        if targets.is_empty:
            return pixels
        edited = self.live.edit(pixels, landmarks, targets, seconds)
        if not np.array_equal(edited, pixels):
            self.frames_changed += 1
        return edited


def edit_video(
    job: VideoEditJob,
    editor: ExpressionEditor,
    *,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> VideoEditResult:
    """Edit every frame of ``job.input`` into ``job.output`` (atomically), sound copied.

    ``progress(done, total)`` after each frame (total is the header's estimate, 0 if
    unknown); ``should_stop()`` polled per frame ends with
    :class:`~faceedit.core.video.Cancelled`, leaving no output. Errors the person can act
    on are :class:`FaceeditError`; on any error or interruption nothing is written.
    """
    from faceedit.core.atomic import atomic_path
    from faceedit.core.video import transcode

    info, plan = prepare_video_job(job)
    same_format = job.output.suffix.lower() == job.input.suffix.lower()
    with atomic_path(job.output, overwrite=job.overwrite) as tmp:
        if job.timeline.is_empty and same_format:
            shutil.copyfile(job.input, tmp)
            return VideoEditResult(job.output, info.frames, 0, 0, 0, True, "copy")
        frame_editor = FrameEditor(editor, job.timeline, job.face_index)
        total = info.frames

        def report(done: int) -> None:
            if progress is not None:
                progress(done, max(total, done))

        result = transcode(
            job.input, tmp, lambda frame: frame_editor.edit(frame.pixels, frame.time),
            plan=plan, progress=report, should_stop=should_stop,
        )
        copied = frame_editor.frames_changed == 0 and same_format
        if copied:  # nothing changed: the input's own bytes beat a re-encoded copy
            shutil.copyfile(job.input, tmp)
    return VideoEditResult(
        job.output, result.frames, frame_editor.frames_with_faces, frame_editor.frames_changed,
        len(frame_editor.tracks_seen), copied, "copy" if copied else result.video_codec,
    )
