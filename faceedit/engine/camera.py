"""Live frame sources: a webcam (or a video file as a fake camera) read and tracked off the GUI thread.

Threads, for one running source:

- the *grabber* (a plain Python thread) owns the ``cv2.VideoCapture``: it reads frames as
  the camera delivers them and keeps only the newest in a one-slot mailbox, so a busy
  tracker never works through a backlog of stale frames (cameras buffer several);
- the *capture thread* (a QThread) takes the newest frame, converts it to RGB, runs the
  :class:`~faceedit.core.tracking.FaceTracker` on it and hands the result to the GUI
  thread, again through a one-slot mailbox: the GUI is told "a frame is ready" at most
  once until it has taken it, so its event queue never fills with frames either;
- :class:`CameraSource` lives on the GUI thread and re-emits each newest frame there.

A video file works as a camera. By default it plays at its own frame rate and loops
(``loop=True``), like a camera that never ends; with ``loop=False`` the source stops at
the end. ``realtime=False`` hands over *every* frame in order, as fast as the consumer
takes them (tests and benchmarks).

Only QtCore is used here (the engine's rule); OpenCV's video I/O is the headless build's.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

import cv2
import numpy as np
from PySide6.QtCore import QObject, QThread, Signal, Slot

from faceedit.core.atomic import sync_file, sync_folder
from faceedit.core.errors import OutputError
from faceedit.core.tracking import FaceTracker, TrackerConfig, TrackingResult

DEFAULT_FRAME_SIZE = (640, 480)
"""What cameras are asked for: the live-edit speed target is set at this size."""

_T = TypeVar("_T")


@dataclass(frozen=True)
class CameraInfo:
    """A source that opened: what it is and what it delivers."""

    source: int | str
    name: str  # "camera 0" or the file's name
    width: int
    height: int
    fps: float  # as reported (cameras often report 0 or a nominal 30)
    is_file: bool


@dataclass(frozen=True, eq=False)  # eq=False: arrays
class CameraFrame:
    """One frame with its tracked faces."""

    session: int  # which start() this frame belongs to
    index: int  # frame number since the source opened (frames the tracker skipped count too)
    timestamp: float  # seconds: capture time for a camera, position (plus loops) for a file
    pixels: np.ndarray  # H×W×3 uint8 RGB, read-only
    tracking: TrackingResult
    dropped: int  # frames skipped so far because tracking fell behind

    @property
    def landmarks(self) -> tuple[np.ndarray, ...]:
        return self.tracking.landmarks


class _Latest(Generic[_T]):
    """A one-slot mailbox between two threads: ``put`` replaces what was not taken yet.

    With ``block=True`` a put waits until the slot is free instead (nothing is dropped).
    Any thread.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: _T | None = None
        self._closed = False
        self.replaced = 0

    def put(self, item: _T, block: bool = False) -> bool:
        """Store ``item``; True if the slot was empty (the taker needs telling)."""
        with self._cond:
            if block:
                self._cond.wait_for(lambda: self._item is None or self._closed)
            if self._closed:
                return False
            was_empty = self._item is None
            if not was_empty:
                self.replaced += 1
            self._item = item
            self._cond.notify_all()
            return was_empty

    def take(self, timeout: float | None = None) -> _T | None:
        """The newest item (waiting up to ``timeout`` s; 0 = don't wait), or None."""
        with self._cond:
            if timeout:
                self._cond.wait_for(lambda: self._item is not None or self._closed, timeout)
            item, self._item = self._item, None
            self._cond.notify_all()
            return item

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        return self._closed


@contextlib.contextmanager
def _quiet_opencv():
    """Silence OpenCV's warnings while probing (a missing camera logs two lines per index)."""
    logging = getattr(getattr(cv2, "utils", None), "logging", None)
    if logging is None:
        yield
        return
    previous = logging.getLogLevel()
    logging.setLogLevel(logging.LOG_LEVEL_ERROR)
    try:
        yield
    finally:
        logging.setLogLevel(previous)


def _device_may_exist(index: int) -> bool:
    # On Linux a camera is /dev/videoN; skipping absent ones makes the probe instant and quiet.
    return not sys.platform.startswith("linux") or os.path.exists(f"/dev/video{index}")


def available_cameras(max_index: int = 5) -> list[int]:
    """Indices 0…max_index−1 of the cameras OpenCV can open (any thread; up to ~1 s per camera)."""
    found = []
    with _quiet_opencv():
        for index in range(max_index):
            if not _device_may_exist(index):
                continue
            capture = cv2.VideoCapture(index)
            try:
                if capture.isOpened():
                    found.append(index)
            finally:
                capture.release()
    return found


def describe_source(source: int | str) -> str:
    return f"camera {source}" if isinstance(source, int) else Path(source).name


def _open(source: int | str, frame_size: tuple[int, int] | None) -> tuple[cv2.VideoCapture, str | None]:
    """Open a source; (capture, None) or (None, a one-line message for the person). Capture thread."""
    if isinstance(source, str):
        path = Path(source)
        if not path.exists():
            return None, f"cannot open video {source}: no such file"
        if not path.is_file():
            return None, f"cannot open video {source}: not a file"
        capture = cv2.VideoCapture(str(path))
        if not capture.isOpened():
            capture.release()
            return None, f"cannot open video {source}: not a video this build of OpenCV can read"
        return capture, None
    with _quiet_opencv():
        capture = cv2.VideoCapture(source) if _device_may_exist(source) else None
    if capture is None or not capture.isOpened():
        if capture is not None:
            capture.release()
        others = available_cameras()
        hint = (
            f"cameras found: {', '.join(map(str, others))}" if others
            else "no camera found; connect one (and close programs using it), or open a video file instead"
        )
        return None, f"cannot open camera {source}: {hint}"
    if frame_size is not None:
        capture.set(cv2.CAP_PROP_FRAME_WIDTH, frame_size[0])
        capture.set(cv2.CAP_PROP_FRAME_HEIGHT, frame_size[1])
    capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # where the backend honours it: less stale lag
    return capture, None


class _CaptureThread(QThread):
    """Opens the source, runs the grabber, tracks the newest frames. Its ``run`` is the capture thread."""

    opened = Signal(object)  # CameraInfo
    frame_available = Signal()
    failed = Signal(str)

    def __init__(
        self, session: int, source: int | str, *, loop: bool, realtime: bool,
        frame_size: tuple[int, int] | None, tracker_config: TrackerConfig | None,
    ) -> None:
        super().__init__()
        self.setObjectName(f"faceedit-camera-{session}")
        self.session, self.source, self.loop, self.realtime = session, source, loop, realtime
        self.frame_size, self.tracker_config = frame_size, tracker_config
        self.outbox: _Latest[CameraFrame] = _Latest()
        self._frames: _Latest[tuple[int, float, np.ndarray]] = _Latest()
        self._stop = threading.Event()

    def request_stop(self) -> None:
        """Any thread."""
        self._stop.set()
        self._frames.close()
        self.outbox.close()

    def run(self) -> None:
        capture = grabber = None
        try:
            capture, problem = _open(self.source, self.frame_size)
            if problem:
                self.failed.emit(problem)
                return
            ok, first = capture.read()
            if not ok or first is None:
                what = "has no frames" if isinstance(self.source, str) else "opened but gives no picture (in use by another program?)"
                self.failed.emit(f"{describe_source(self.source)} {what}")
                return
            fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
            is_file = isinstance(self.source, str)
            self.realtime = self.realtime or not is_file  # a camera cannot wait for its consumer
            self.opened.emit(CameraInfo(self.source, describe_source(self.source), first.shape[1], first.shape[0], fps, is_file))
            tracker = FaceTracker(self.tracker_config)
            tracker.load()  # ~1 s, here rather than on the first frame's clock
            grabber = threading.Thread(
                target=self._grab, args=(capture, first, fps if fps > 0 else 30.0, is_file),
                name=f"faceedit-grabber-{self.session}", daemon=True,
            )
            grabber.start()
            self._track(tracker)
        except Exception as error:  # a bug or a driver failure: say so, never take the app down
            self.failed.emit(f"{describe_source(self.source)} stopped: {type(error).__name__}: {error}")
        finally:
            self.request_stop()
            if grabber is not None:
                grabber.join(timeout=5.0)
            if capture is not None and (grabber is None or not grabber.is_alive()):
                capture.release()

    def _track(self, tracker: FaceTracker) -> None:
        """Track the newest frame, over and over, until stopped or the source ends."""
        while not self._stop.is_set():
            item = self._frames.take(timeout=0.25)
            if item is None:
                if self._frames.closed:
                    return
                continue
            index, timestamp, bgr = item
            pixels = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            pixels.setflags(write=False)  # shared with the GUI and the worker from here on
            tracking = tracker.update(pixels, timestamp)
            frame = CameraFrame(self.session, index, timestamp, pixels, tracking, self._frames.replaced)
            if self.outbox.put(frame, block=not self.realtime):
                self.frame_available.emit()

    def _grab(self, capture: cv2.VideoCapture, first: np.ndarray, fps: float, is_file: bool) -> None:
        """The grabber thread: read frames as they come, keep the newest. Owns ``capture``'s reads."""
        try:
            start = time.monotonic()
            index, loops, position = 0, 0, 0
            frame: np.ndarray | None = first
            frames_per_loop = 0
            while not self._stop.is_set():
                if frame is None:
                    ok, frame = capture.read()
                    if not ok or frame is None:
                        if is_file and self.loop and position > 0:
                            capture.set(cv2.CAP_PROP_POS_FRAMES, 0)
                            loops, frames_per_loop, position = loops + 1, position, 0
                            frame = None
                            continue
                        if not is_file:
                            self._report_lost()
                        return
                if is_file:
                    # A file's clock is its frame position; realtime plays it at its own rate.
                    timestamp = (loops * frames_per_loop + position) / fps
                    if self.realtime:
                        delay = start + timestamp - time.monotonic()
                        if delay > 0 and self._stop.wait(delay):
                            return
                else:
                    timestamp = time.monotonic() - start
                self._frames.put((index, timestamp, frame), block=not self.realtime)
                index, position, frame = index + 1, position + 1, None
        finally:
            self._frames.close()

    def _report_lost(self) -> None:
        if not self._stop.is_set():
            self.failed.emit(f"{describe_source(self.source)} stopped delivering frames (unplugged?)")


class CameraSource(QObject):
    """Start and stop a live source; its frames, tracked, arrive as signals on this object's thread.

    Create and use it on the GUI thread. One source runs at a time: ``start`` stops the
    previous one. Every start ends with exactly one ``stopped`` (after ``failed`` if it failed).
    """

    opened = Signal(object)  # CameraInfo
    frame_ready = Signal(object)  # CameraFrame, the newest only
    failed = Signal(str)  # one line for the person: "cannot open camera 1: no camera found…"
    stopped = Signal()

    def __init__(self, tracker_config: TrackerConfig | None = None, frame_size: tuple[int, int] | None = DEFAULT_FRAME_SIZE) -> None:
        super().__init__()
        self.tracker_config = tracker_config
        self.frame_size = frame_size
        self._thread: _CaptureThread | None = None
        self._session = 0
        self._retired: set[_CaptureThread] = set()  # stopped threads still finishing

    @property
    def is_running(self) -> bool:
        return self._thread is not None

    @property
    def source(self) -> int | str | None:
        """What is running now (camera index or file path), or None."""
        return None if self._thread is None else self._thread.source

    def start(self, source: int | str, *, loop: bool = True, realtime: bool = True) -> None:
        """Open a camera index or a video file path and start tracking it (returns at once)."""
        self.stop()
        self._session += 1
        thread = _CaptureThread(
            self._session, source, loop=loop, realtime=realtime,
            frame_size=self.frame_size, tracker_config=self.tracker_config,
        )
        thread.opened.connect(self._on_opened)
        thread.frame_available.connect(self._on_frame_available)
        thread.failed.connect(self._on_failed)
        thread.finished.connect(self._on_finished)
        self._thread = thread
        thread.start()

    def stop(self, wait_ms: int = 3000) -> None:
        """Stop the running source (waits for its threads up to ``wait_ms``). Emits ``stopped``."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        thread.request_stop()
        if not thread.wait(wait_ms):
            self._retired.add(thread)  # a driver blocked in read(): let it finish on its own
        self.stopped.emit()

    # --- from the capture thread, delivered on this object's thread ----------------------

    def _current(self) -> _CaptureThread | None:
        sender = self.sender()
        return sender if sender is self._thread else None  # frames of a stopped session are stale

    @Slot(object)
    def _on_opened(self, info: CameraInfo) -> None:
        if self._current() is not None:
            self.opened.emit(info)

    @Slot()
    def _on_frame_available(self) -> None:
        thread = self._current()
        if thread is not None and (frame := thread.outbox.take(0)) is not None:
            self.frame_ready.emit(frame)

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        if self._current() is not None:
            self.failed.emit(message)

    @Slot()
    def _on_finished(self) -> None:
        thread = self.sender()
        self._retired.discard(thread)
        if thread is not None and thread is self._thread:  # ended by itself (error, end of file), not by stop()
            # A frame may still wait in the mailbox: the source's last frame.
            if (frame := thread.outbox.take(0)) is not None:
                self.frame_ready.emit(frame)
            self._thread = None
            self.stopped.emit()


class VideoRecorder:
    """Writes RGB frames to a video at a fixed rate, in real time (the calling thread).

    Live frames come at an uneven rate; each ``write`` repeats or skips frames so that
    the file's clock follows the wall clock. ``.mp4`` uses the MPEG-4 Part 2 codec
    ("mp4v") and ``.avi`` Motion-JPEG: both work with the headless OpenCV wheel (its
    FFmpeg has no H.264 encoder). Never overwrites: the file is written under a hidden
    temporary name and renamed on :meth:`close`.
    """

    CODECS = {".mp4": "mp4v", ".avi": "MJPG"}

    def __init__(self, path: str | Path, size: tuple[int, int], fps: float = 15.0) -> None:
        self.path = Path(path)
        codec = self.CODECS.get(self.path.suffix.lower())
        if codec is None:
            raise OutputError(f"cannot record to {self.path}: use .mp4 or .avi")
        if self.path.exists():
            raise OutputError(f"{self.path} already exists")
        self._tmp = self.path.with_name(f".{self.path.stem}.part{self.path.suffix}")
        self.size, self.fps = size, fps
        self._writer = cv2.VideoWriter(str(self._tmp), cv2.VideoWriter_fourcc(*codec), fps, size)
        if not self._writer.isOpened():
            self._tmp.unlink(missing_ok=True)
            raise OutputError(f"cannot record to {self.path}: OpenCV could not start a {codec} writer")
        self._start: float | None = None
        self.frames = 0

    def write(self, pixels: np.ndarray, now: float | None = None) -> None:
        """Add the frame shown at ``now`` (monotonic seconds; default: now)."""
        now = time.monotonic() if now is None else now
        if self._start is None:
            self._start = now
        due = int((now - self._start) * self.fps) + 1  # frames the file should hold by now
        if due <= self.frames:
            return
        bgr = cv2.cvtColor(np.ascontiguousarray(pixels), cv2.COLOR_RGB2BGR)
        if (bgr.shape[1], bgr.shape[0]) != self.size:
            bgr = cv2.resize(bgr, self.size, interpolation=cv2.INTER_AREA)
        for _ in range(due - self.frames):
            self._writer.write(bgr)
        self.frames = due

    def close(self) -> Path:
        """Finish the file; returns where it was written."""
        self._writer.release()
        if self.frames == 0:
            self._tmp.unlink(missing_ok=True)
            raise OutputError(f"nothing recorded to {self.path}")
        if self.path.exists():
            self._tmp.unlink(missing_ok=True)
            raise OutputError(f"{self.path} appeared while recording; left untouched")
        sync_file(self._tmp)  # durable, as atomic_path's writes are
        os.replace(self._tmp, self.path)
        sync_folder(self.path.parent)
        return self.path
