"""A video file in the app, off the GUI thread: open it, preview edited frames, export it.

:class:`VideoRunner` owns one QThread, its own copy of the model (loaded on first use, as
:class:`~faceedit.engine.batch_runner.BatchRunner` does) and the open
:class:`~faceedit.core.video.VideoReader`. Requests may come from any thread; results come
back as signals. Previews keep only the newest request, so scrubbing the timeline or
dragging a slider never queues up work. An export runs
:func:`~faceedit.core.video_edit.edit_video` (what ``faceedit video`` runs) on the same
thread; :meth:`VideoRunner.cancel` stops it after the current frame, leaving no output.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal, Slot

from faceedit.core.video_edit import Timeline

if TYPE_CHECKING:
    from faceedit.core.video import VideoInfo


@dataclass(frozen=True, eq=False)  # eq=False: arrays
class VideoPreview:
    """One previewed frame: the original and the edit at the timeline's state at ``seconds``."""

    stamp: int
    seconds: float  # the frame's own time (the shown frame, at or before the asked time)
    index: int
    original: np.ndarray  # H×W×3 uint8 RGB
    edited: np.ndarray
    faces: int
    milliseconds: float


@dataclass(frozen=True)
class ExportProgress:
    done: int
    total: int
    eta: float  # seconds


class VideoRunner(QObject):
    """Open, preview and export one video at a time, on its own thread with its own model."""

    opened = Signal(object)  # VideoInfo
    preview_ready = Signal(object)  # VideoPreview
    export_progress = Signal(object)  # ExportProgress
    export_finished = Signal(object)  # VideoEditResult
    export_cancelled = Signal()
    failed = Signal(str)  # one line: opening, a preview or an export failed
    status = Signal(str)

    _open_requested = Signal(str)
    _preview_requested = Signal()
    _export_requested = Signal(str, object, bool)

    def __init__(self, model_path: str, device: str = "auto", precision: str = "auto", synchronous: bool = False) -> None:
        super().__init__()
        self._model_path, self._device, self._precision = model_path, device, precision
        self._editor: Any = None  # ExpressionEditor, loaded on the runner's thread
        self._reader: Any = None  # VideoReader
        self._pending: tuple[int, float, Timeline] | None = None
        self._last: tuple[float, Any, Any] | None = None
        self._tracker: Any = None  # FaceTracker for previews, reset per frame (loading one costs ~1 s)  # seconds, VideoFrame, FrameEditor of the last preview
        self._lock = threading.Lock()
        self._cancel = threading.Event()
        self._exporting = threading.Event()
        self._thread: QThread | None = None
        if not synchronous:
            self._thread = QThread()
            self._thread.setObjectName("faceedit-video")
            self.moveToThread(self._thread)
            self._thread.start()
        self._open_requested.connect(self._open)
        self._preview_requested.connect(self._preview_pending)
        self._export_requested.connect(self._export)

    # --- requests: any thread ---------------------------------------------------------

    def open(self, path: str) -> None:
        """Open a video; ``opened`` (then a preview on request) or ``failed``."""
        self._open_requested.emit(path)

    def request_preview(self, stamp: int, seconds: float, timeline: Timeline) -> None:
        """Preview the frame at ``seconds`` edited by ``timeline``; only the newest request is served."""
        with self._lock:
            first = self._pending is None
            self._pending = (stamp, seconds, timeline)
        if first:
            self._preview_requested.emit()

    def export(self, output: str, timeline: Timeline, overwrite: bool) -> None:
        """Edit the whole video into ``output`` (atomically); ignored while an export runs."""
        if self._exporting.is_set():
            return
        self._cancel.clear()
        self._exporting.set()
        self._export_requested.emit(output, timeline, overwrite)

    def cancel(self) -> None:
        """Stop a running export after its current frame; nothing is written."""
        self._cancel.set()

    @property
    def exporting(self) -> bool:
        return self._exporting.is_set()

    def stop(self) -> None:
        """Cancel any export, close the video and end the thread (GUI thread; waits)."""
        self.cancel()
        if self._thread is not None:
            self._thread.quit()
            self._thread.wait()
            self._thread = None
        if self._reader is not None:
            self._reader.close()
            self._reader = None

    # --- work: the runner's thread ----------------------------------------------------

    def _load(self) -> Any:
        if self._editor is None:
            from faceedit.core.device import resolve_device
            from faceedit.core.editor import ExpressionEditor
            from faceedit.core.models.file import load_model

            self.status.emit("Loading the model…")
            self._editor = ExpressionEditor(load_model(self._model_path, resolve_device(self._device), self._precision))
        return self._editor

    @Slot(str)
    def _open(self, path: str) -> None:
        from faceedit.core.errors import FaceeditError
        from faceedit.core.video import VideoReader

        try:
            reader = VideoReader(path)
        except FaceeditError as error:
            self.failed.emit(str(error))
            return
        except Exception as error:  # a bug: say so, keep the app up
            self.failed.emit(f"cannot open {path}: {type(error).__name__}: {error}")
            return
        if self._reader is not None:
            self._reader.close()
        self._reader, self._last = reader, None
        self.opened.emit(reader.info)

    @Slot()
    def _preview_pending(self) -> None:
        with self._lock:
            request, self._pending = self._pending, None
        if request is None or self._reader is None:
            return
        stamp, seconds, timeline = request
        try:
            self.preview_ready.emit(self._preview(stamp, seconds, timeline))
        except Exception as error:  # FaceeditError or a bug: one line, the app stays up
            self.failed.emit(str(error) if _is_faceedit_error(error) else f"preview failed: {type(error).__name__}: {error}")

    def _preview(self, stamp: int, seconds: float, timeline: Timeline) -> VideoPreview:
        """One frame, tracked on its own (a fresh tracker: detection on this frame) and edited.

        A slider moved on the same frame reuses the frame, its tracking and the faces'
        encodings: it costs one render.
        """
        from faceedit.core.video_edit import FrameEditor

        started = time.perf_counter()
        if self._last is not None and self._last[0] == seconds:
            _, frame, editor = self._last
            editor.timeline = timeline
        else:
            frame = self._reader.frame_at(seconds)
            if self._tracker is None:
                from faceedit.core.tracking import FaceTracker

                self._tracker = FaceTracker()
            editor = FrameEditor(self._load(), timeline, tracker=self._tracker)
            self._last = (seconds, frame, editor)
        edited = editor.edit(frame.pixels, frame.time)
        faces = len(editor.landmarks(editor.last_tracking)) if editor.last_tracking is not None else 0
        return VideoPreview(stamp, frame.time, frame.index, frame.pixels, edited, faces,
                            (time.perf_counter() - started) * 1000.0)

    @Slot(str, object, bool)
    def _export(self, output: str, timeline: Timeline, overwrite: bool) -> None:
        from faceedit.core.video import Cancelled
        from faceedit.core.video_edit import VideoEditJob, edit_video

        result, message, cancelled = None, None, False
        try:
            if self._reader is None:
                raise RuntimeError("no video is open")
            job = VideoEditJob(self._reader.info.path, Path(output), timeline, None, overwrite)
            editor = self._load()
            self.status.emit("Exporting…")
            started = time.monotonic()

            def progress(done: int, total: int) -> None:
                elapsed = time.monotonic() - started
                eta = elapsed / done * (total - done) if done and total > done else 0.0
                self.export_progress.emit(ExportProgress(done, total, eta))

            result = edit_video(job, editor, progress=progress, should_stop=self._cancel.is_set)
        except Cancelled:
            cancelled = True
        except Exception as error:
            message = str(error) if _is_faceedit_error(error) else f"export failed: {type(error).__name__}: {error}"
        self._exporting.clear()  # before anyone hears of the end, so a handler may export again
        if cancelled:
            self.export_cancelled.emit()
        elif result is not None:
            self.export_finished.emit(result)
        else:
            self.failed.emit(message or "export failed")


def _is_faceedit_error(error: BaseException) -> bool:
    from faceedit.core.errors import FaceeditError

    return isinstance(error, FaceeditError)


def describe_info(info: VideoInfo) -> str:
    """One line about an opened video, for the window."""
    return f"{info.path.name}: {info.describe()}"
