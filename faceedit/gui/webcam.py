"""The webcam panel: live expression editing of a camera (or a video file), on the GUI thread.

Frames are read and tracked by :class:`~faceedit.engine.camera.CameraSource` on its own
threads; this panel sends each newest tracked frame, with the current slider state, to
the main window's :class:`~faceedit.engine.worker.EditWorker` (which keeps only the
newest) and shows the edited frames it gets back. The main window embeds the panel or
shows it as a window; the panel never touches the model.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import numpy as np
from PySide6.QtCore import QStandardPaths, Qt, Signal
from PySide6.QtGui import QImage, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from faceedit.core.errors import FaceeditError, OutputError
from faceedit.core.expressions import ExpressionTargets
from faceedit.core.imageio import save_photo
from faceedit.core.tracking import TrackerConfig
from faceedit.engine.camera import CameraFrame, CameraInfo, CameraSource, VideoRecorder, available_cameras
from faceedit.engine.worker import EditWorker, FrameRequest, FrameResult

VIDEO_FILTER = "Videos (*.mp4 *.avi *.mov *.mkv *.webm *.m4v);;All files (*)"
OPEN_FILE = "file"  # the chooser's "Open video file…" entry
RECORD_FPS = 15.0
_PENDING_KEEP = 8  # frames sent to the worker and not yet back (it keeps only the newest anyway)


def default_snapshot_folder() -> Path:
    """~/Pictures/faceedit (or the platform's equivalent); created on the first save."""
    pictures = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.PicturesLocation)
    return Path(pictures or Path.home()) / "faceedit"


def unused_path(folder: Path, stem: str, suffix: str) -> Path:
    """``folder/stem.suffix``, or ``stem-2``, ``stem-3``… : a name not taken yet."""
    path, number = folder / f"{stem}{suffix}", 1
    while path.exists() or (folder / f".{path.stem}.part{suffix}").exists():
        number += 1
        path = folder / f"{stem}-{number}{suffix}"
    return path


class FrameView(QLabel):
    """Shows frames scaled to fit, keeping the aspect ratio."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.setMinimumSize(320, 240)
        self._pixmap: QPixmap | None = None

    def show_pixels(self, pixels: np.ndarray) -> None:
        pixels = np.ascontiguousarray(pixels)
        height, width = pixels.shape[:2]
        image = QImage(pixels.data, width, height, 3 * width, QImage.Format.Format_RGB888)
        self._pixmap = QPixmap.fromImage(image)  # copies the pixels
        self._refit()

    def resizeEvent(self, event) -> None:  # noqa: ANN001, N802 (Qt's name)
        super().resizeEvent(event)
        self._refit()

    def _refit(self) -> None:
        if self._pixmap is not None:
            self.setPixmap(self._pixmap.scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation))


class WebcamPanel(QWidget):
    """Camera chooser, start/stop, the live edited view, fps readout, snapshot and record.

    ``worker`` is the main window's engine worker; ``targets`` returns the current slider
    state (called on the GUI thread, once per frame). ``cameras`` lists the camera
    indices to offer (default: probe 0–4).
    """

    message = Signal(str)  # every status line the panel shows, for a status bar

    def __init__(
        self,
        worker: EditWorker,
        targets: Callable[[], ExpressionTargets],
        *,
        snapshot_folder: Path | None = None,
        cameras: Callable[[], list[int]] = available_cameras,
        tracker_config: TrackerConfig | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.worker = worker
        self._targets = targets
        self._cameras = cameras
        self.snapshot_folder = Path(snapshot_folder) if snapshot_folder else default_snapshot_folder()
        self.camera = CameraSource(tracker_config)
        self.camera.opened.connect(self._on_opened)
        self.camera.frame_ready.connect(self._on_frame)
        self.camera.failed.connect(self._on_camera_failed)
        self.camera.stopped.connect(self._on_stopped)
        self._camera_info: CameraInfo | None = None
        worker.model_ready.connect(self._on_model_ready)
        worker.frame_rendered.connect(self._on_rendered)
        self._stamp = 0
        self._shown_stamp = -1
        self._pending: dict[int, CameraFrame] = {}
        self._shown_times: deque[float] = deque(maxlen=30)
        self._track_ms = 0.0
        self.current: np.ndarray | None = None  # the edited frame on screen
        self.current_source: CameraFrame | None = None  # the camera frame it was made from
        self.last_result: FrameResult | None = None
        self.recorder: VideoRecorder | None = None
        self._build_ui()
        self.refresh_cameras()

    # --- layout --------------------------------------------------------------------------

    def _build_ui(self) -> None:
        self.source_combo = QComboBox()
        self.source_combo.activated.connect(self._on_source_activated)
        self.refresh_button = QPushButton("Rescan")
        self.refresh_button.setToolTip("Look for cameras again")
        self.refresh_button.clicked.connect(self.refresh_cameras)
        self.start_button = QPushButton("Start")
        self.start_button.clicked.connect(self.toggle)
        chooser = QHBoxLayout()
        chooser.addWidget(QLabel("Source:"))
        chooser.addWidget(self.source_combo, 1)
        chooser.addWidget(self.refresh_button)
        chooser.addWidget(self.start_button)

        self.view = FrameView("Choose a camera (or a video file) and press Start.")
        self.message_label = QLabel("")
        self.message_label.setWordWrap(True)
        self.fps_label = QLabel("")
        status = QHBoxLayout()
        status.addWidget(self.message_label, 1)
        status.addWidget(self.fps_label)

        self.snapshot_button = QPushButton("Snapshot")
        self.snapshot_button.clicked.connect(self.snapshot)
        self.record_button = QPushButton("Record")
        self.record_button.setCheckable(True)
        self.record_button.toggled.connect(self._on_record_toggled)
        self.folder_button = QPushButton()
        self.folder_button.clicked.connect(self._choose_folder)
        self._show_folder()
        actions = QHBoxLayout()
        actions.addWidget(self.snapshot_button)
        actions.addWidget(self.record_button)
        actions.addWidget(self.folder_button, 1)

        layout = QVBoxLayout(self)
        layout.addLayout(chooser)
        layout.addWidget(self.view, 1)
        layout.addLayout(status)
        layout.addLayout(actions)
        self._enable_actions(False)

    def _enable_actions(self, live: bool) -> None:
        self.snapshot_button.setEnabled(live)
        self.record_button.setEnabled(live)

    def _show_folder(self) -> None:
        self.folder_button.setText(f"Save to: {self.snapshot_folder}")
        self.folder_button.setToolTip("Where snapshots and recordings go (click to change)")

    def _say(self, text: str, error: bool = False) -> None:
        self.message_label.setText(text)
        self.message_label.setStyleSheet("color: #e0524c;" if error else "")
        self.message.emit(text)

    # --- source --------------------------------------------------------------------------

    def refresh_cameras(self) -> None:
        """Fill the chooser with the cameras found now, then "Open video file…"."""
        previous = self.source_combo.currentData()
        self.source_combo.clear()
        cameras = self._cameras()
        for index in cameras:
            self.source_combo.addItem(f"Camera {index}", index)
        if not cameras:
            self.source_combo.addItem("No camera found", None)
            self.source_combo.model().item(0).setEnabled(False)
            self._say("No camera found. Connect a webcam and press Rescan, or open a video file to use as a camera.")
        self.source_combo.addItem("Open video file…", OPEN_FILE)
        found = self.source_combo.findData(previous)
        self.source_combo.setCurrentIndex(found if previous is not None and found >= 0 else (0 if cameras else self.source_combo.count() - 1))

    def _on_source_activated(self, row: int) -> None:
        if self.source_combo.itemData(row) == OPEN_FILE:
            path, _ = QFileDialog.getOpenFileName(self, "Open a video to use as a camera", "", VIDEO_FILTER)
            if path:
                self.start(path)

    def toggle(self) -> None:
        """Start the chosen source, or stop the running one."""
        if self.camera.is_running:
            self.stop()
            return
        source = self.source_combo.currentData()
        if source == OPEN_FILE:
            self._on_source_activated(self.source_combo.currentIndex())
        elif source is None:
            self._say("No camera found. Connect a webcam and press Rescan, or open a video file to use as a camera.", error=True)
        else:
            self.start(source)

    def start(self, source: int | str, *, loop: bool = True, realtime: bool = True) -> None:
        """Start live editing of camera ``source`` (an index) or a video file (a path)."""
        if isinstance(source, str):
            row = self.source_combo.findData(source)
            if row < 0:
                self.source_combo.insertItem(self.source_combo.count() - 1, Path(source).name, source)
                row = self.source_combo.count() - 2
            self.source_combo.setCurrentIndex(row)
        self._pending.clear()
        self._shown_times.clear()
        self._say(f"Starting {'camera ' + str(source) if isinstance(source, int) else Path(source).name}…")
        self.start_button.setText("Stop")
        self.camera.start(source, loop=loop, realtime=realtime)

    def stop(self) -> None:
        self.camera.stop()

    def shutdown(self) -> None:
        """Stop the camera and finish any recording (the main window calls this on close)."""
        self._stop_recording()
        self.camera.stop()

    def _on_model_ready(self, _ready: object) -> None:
        if self._camera_info is not None:  # the model came after the camera: drop the "no model" note
            self._say(f"{self._camera_info.name}: {self._camera_info.width}×{self._camera_info.height}")

    def _on_opened(self, info: CameraInfo) -> None:
        self._camera_info = info
        self.worker.set_live(True)
        note = "" if self.worker.has_model else " — no model loaded: showing it unedited"
        self._say(f"{info.name}: {info.width}×{info.height}{note}")
        self._enable_actions(True)

    def _on_camera_failed(self, message: str) -> None:
        self._say(message, error=True)

    def _on_stopped(self) -> None:
        self.worker.set_live(False)
        self.start_button.setText("Start")
        self._stop_recording()
        self._enable_actions(self.current is not None)
        self.fps_label.setText("")
        if not self.message_label.styleSheet():  # keep an error on screen
            self._say("Stopped.")

    # --- frames --------------------------------------------------------------------------

    def _on_frame(self, frame: CameraFrame) -> None:
        self._stamp += 1
        self._pending[self._stamp] = frame
        for old in [s for s in self._pending if s <= self._stamp - _PENDING_KEEP]:
            del self._pending[old]  # replaced in the worker by newer frames: never coming back
        self._track_ms = frame.tracking.milliseconds
        self.worker.request_frame(FrameRequest(self._stamp, frame.pixels, frame.landmarks, self._targets()))

    def _on_rendered(self, result: FrameResult) -> None:
        source = self._pending.get(result.stamp)
        if source is None or result.stamp <= self._shown_stamp:
            return  # not ours, or older than what is on screen
        for old in [s for s in self._pending if s <= result.stamp]:
            del self._pending[old]
        self._shown_stamp = result.stamp
        self.current, self.current_source, self.last_result = result.pixels, source, result
        self.view.show_pixels(result.pixels)
        now = time.monotonic()
        self._shown_times.append(now)
        if self.recorder is not None:
            self.recorder.write(result.pixels, now)
        faces = len(source.tracking.faces)
        self.fps_label.setText(
            f"{self.fps:4.1f} fps · edit {result.milliseconds:.0f} ms · track {self._track_ms:.0f} ms · "
            f"{faces} face{'' if faces == 1 else 's'}"
        )

    @property
    def fps(self) -> float:
        """Edited frames shown per second, over the last 30."""
        times = self._shown_times
        return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else 0.0

    # --- snapshot and recording ----------------------------------------------------------

    def _choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Save snapshots and recordings to", str(self.snapshot_folder))
        if folder:
            self.snapshot_folder = Path(folder)
            self._show_folder()

    def _prepare_folder(self) -> bool:
        try:
            self.snapshot_folder.mkdir(parents=True, exist_ok=True)
            return True
        except OSError as error:
            self._say(f"cannot use folder {self.snapshot_folder}: {error.strerror or error}", error=True)
            return False

    def snapshot(self) -> Path | None:
        """Save the edited frame on screen as a new JPEG in the snapshot folder; its path."""
        if self.current is None:
            self._say("Nothing to save yet: start a camera first.", error=True)
            return None
        if not self._prepare_folder():
            return None
        stem = f"faceedit-{datetime.now():%Y%m%d-%H%M%S}"
        for _ in range(100):  # another save may take the name between the check and the write
            path = unused_path(self.snapshot_folder, stem, ".jpg")
            try:
                save_photo(path, self.current, overwrite=False)
            except OutputError as error:
                if path.exists():
                    continue
                self._say(str(error), error=True)
                return None
            self._say(f"Saved {path}")
            return path
        return None

    def _on_record_toggled(self, on: bool) -> None:
        if on:
            self.start_recording()
        else:
            self._stop_recording()

    def start_recording(self) -> Path | None:
        """Record the edited frames to a new .mp4 in the snapshot folder until stopped."""
        if self.recorder is not None:
            return self.recorder.path
        if self.current is None or not self._prepare_folder():
            self.record_button.setChecked(False)
            return None
        height, width = self.current.shape[:2]
        path = unused_path(self.snapshot_folder, f"faceedit-{datetime.now():%Y%m%d-%H%M%S}", ".mp4")
        try:
            self.recorder = VideoRecorder(path, (width, height), RECORD_FPS)
        except FaceeditError as error:
            self._say(str(error), error=True)
            self.record_button.setChecked(False)
            return None
        self.record_button.blockSignals(True)
        self.record_button.setChecked(True)
        self.record_button.setText("Stop recording")
        self.record_button.blockSignals(False)
        self._say(f"Recording to {path}…")
        return path

    def stop_recording(self) -> Path | None:
        """Finish the recording; the file's path (None if nothing was recorded)."""
        return self._stop_recording()

    def _stop_recording(self) -> Path | None:
        recorder, self.recorder = self.recorder, None
        self.record_button.blockSignals(True)
        self.record_button.setChecked(False)
        self.record_button.setText("Record")
        self.record_button.blockSignals(False)
        if recorder is None:
            return None
        try:
            path = recorder.close()
        except FaceeditError as error:
            self._say(str(error), error=True)
            return None
        self._say(f"Saved recording {path}")
        return path

    # --- lifetime ------------------------------------------------------------------------

    def hideEvent(self, event) -> None:  # noqa: ANN001, N802 (Qt's name)
        # A panel hidden by the app (its window closed, another tab chosen) should not keep
        # the camera on; one hidden by the system (window minimised) keeps running.
        if not event.spontaneous():
            self.shutdown()
        super().hideEvent(event)

    def closeEvent(self, event) -> None:  # noqa: ANN001, N802 (Qt's name)
        self.shutdown()
        super().closeEvent(event)
