"""The video window (File → Open Video…): scrub a timeline, set keyframes with the sliders, export.

GUI thread only. Every decode, track, render and the export happen on the
:class:`~faceedit.engine.video_runner.VideoRunner`'s thread (its own model copy); this
window sends requests and shows what comes back. A slider moved sets a keyframe for that
expression at the current time (:class:`~faceedit.core.video_edit.Timeline`): one keyframe
holds the value over the whole video, two or more change it linearly between them.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QProgressDialog,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from faceedit.core.expressions import EXPRESSIONS
from faceedit.core.video_edit import Keyframe, Timeline
from faceedit.engine.video_runner import ExportProgress, VideoPreview, VideoRunner, describe_info
from faceedit.gui.webcam import VIDEO_FILTER, FrameView

SLIDER_STEPS = 100


def format_time(seconds: float) -> str:
    """``m:ss.ss``."""
    minutes, rest = divmod(max(0.0, seconds), 60.0)
    return f"{int(minutes)}:{rest:05.2f}"


def describe_keyframes(timeline: Timeline) -> str:
    """The keyframes as a short text, per expression."""
    if not timeline.keyframes:
        return "No keyframes: move a slider to set one at the current time."
    parts = []
    for name in EXPRESSIONS:
        keys = [k for k in timeline.keyframes if k.expression == name]
        if keys:
            parts.append(f"{name} " + ", ".join(f"{k.value:.2f} at {format_time(k.time)}" for k in keys))
    return "Keyframes: " + "; ".join(parts)


class VideoWindow(QDialog):
    """A video, its timeline, six sliders (keyframes) and Export. Modeless; owns its runner."""

    def __init__(self, parent: QWidget | None, model_path: str, device: str = "auto", precision: str = "auto",
                 *, runner: VideoRunner | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Video — faceedit")
        self.resize(980, 700)
        self.runner = runner or VideoRunner(model_path, device, precision)
        if parent is not None:  # a parent that goes first takes this window along: end the thread before
            runner_ = self.runner
            parent.destroyed.connect(lambda *_: runner_.stop())
        self.timeline = Timeline()
        self.info = None
        self.last_preview: VideoPreview | None = None
        self.last_result = None  # VideoEditResult of the last export
        self.last_error: str | None = None
        self._stamp = 0
        self._progress: QProgressDialog | None = None
        self._build_ui()
        self.runner.opened.connect(self._on_opened)
        self.runner.preview_ready.connect(self._on_preview)
        self.runner.export_progress.connect(self._on_export_progress)
        self.runner.export_finished.connect(self._on_export_finished)
        self.runner.export_cancelled.connect(self._on_export_cancelled)
        self.runner.failed.connect(self._on_failed)
        self.runner.status.connect(self.status.setText)
        self._scrub_timer = QTimer(self, singleShot=True, interval=30)  # at most ~30 seek requests a second
        self._scrub_timer.timeout.connect(self.request_preview)
        self._set_enabled(False)

    # --- layout ------------------------------------------------------------------------

    def _build_ui(self) -> None:
        self.view = FrameView("Open a video (File → Open Video…)")
        self.time_slider = QSlider(Qt.Orientation.Horizontal)
        self.time_slider.setToolTip("Scrub the video; the sliders set keyframes at this time")
        self.time_slider.valueChanged.connect(self._on_scrub)
        self.time_label = QLabel(format_time(0) + " / " + format_time(0))
        timeline_row = QHBoxLayout()
        timeline_row.addWidget(self.time_slider, 1)
        timeline_row.addWidget(self.time_label)

        sliders = QGridLayout()
        self.sliders: dict[str, QSlider] = {}
        self.value_labels: dict[str, QLabel] = {}
        for row, name in enumerate(EXPRESSIONS):
            slider = QSlider(Qt.Orientation.Horizontal)
            slider.setRange(0, SLIDER_STEPS)
            slider.setMinimumWidth(160)
            slider.setToolTip(f"{name}: sets a keyframe at the current time")
            slider.valueChanged.connect(lambda value, n=name: self._on_slider(n, value))
            # Releasing the handle sets a keyframe too, so a value the slider already shows
            # (0 where nothing is set yet) can be keyed by a click.
            slider.sliderReleased.connect(lambda n=name: self._on_slider(n, self.sliders[n].value()))
            label = QLabel("—")
            label.setMinimumWidth(36)
            label.setToolTip("— : as in the video (no keyframe for this expression)")
            sliders.addWidget(QLabel(name.capitalize()), row, 0)
            sliders.addWidget(slider, row, 1)
            sliders.addWidget(label, row, 2)
            self.sliders[name], self.value_labels[name] = slider, label
        self.clear_button = QPushButton("Clear Keyframes")
        self.clear_button.clicked.connect(self.clear_keyframes)
        self.export_button = QPushButton("Export…")
        self.export_button.setDefault(True)
        self.export_button.clicked.connect(self.export_dialog)
        side = QVBoxLayout()
        side.addLayout(sliders)
        side.addWidget(self.clear_button)
        side.addStretch(1)
        side.addWidget(self.export_button)
        side_widget = QWidget()
        side_widget.setLayout(side)
        side_widget.setFixedWidth(300)

        top = QHBoxLayout()
        top.addWidget(self.view, 1)
        top.addWidget(side_widget)
        self.keyframes_label = QLabel(describe_keyframes(self.timeline))
        self.keyframes_label.setWordWrap(True)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addLayout(top, 1)
        layout.addLayout(timeline_row)
        layout.addWidget(self.keyframes_label)
        layout.addWidget(self.status)

    def _set_enabled(self, enabled: bool) -> None:
        for widget in (self.time_slider, self.clear_button, self.export_button, *self.sliders.values()):
            widget.setEnabled(enabled)

    # --- actions -----------------------------------------------------------------------

    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open video", "", VIDEO_FILTER)
        if path:
            self.open_path(path)

    def open_path(self, path: str | Path) -> None:
        """Open a video on the runner's thread; the first frame is previewed when it opens."""
        self.status.setText(f"Opening {Path(path).name}…")
        self.runner.open(str(path))

    @property
    def seconds(self) -> float:
        """The timeline's current time."""
        return self.time_slider.value() / 1000.0

    def request_preview(self) -> None:
        if self.info is None:
            return
        self._stamp += 1
        self.runner.request_preview(self._stamp, self.seconds, self.timeline)

    def clear_keyframes(self) -> None:
        self.timeline = Timeline()
        self._sync_sliders()
        self.request_preview()

    def export_dialog(self) -> None:
        if self.info is None:
            return
        suggestion = str(self.info.path.with_name(f"{self.info.path.stem}-edited.mp4"))
        path, _ = QFileDialog.getSaveFileName(self, "Export video", suggestion, VIDEO_FILTER)
        if path:
            self.export_to(path, overwrite=Path(path).exists())  # the dialog asked before replacing

    def export_to(self, path: str | Path, overwrite: bool = False) -> None:
        """Export the whole video with the keyframes, on the runner's thread; a progress dialog with Cancel."""
        self.last_result, self.last_error = None, None
        total = self.info.frames if self.info is not None else 0
        self._progress = QProgressDialog("Exporting…", "Cancel", 0, max(total, 1), self)
        self._progress.setWindowTitle("Export video — faceedit")
        self._progress.setWindowModality(Qt.WindowModality.WindowModal)
        self._progress.setMinimumDuration(0)
        self._progress.setAutoClose(False)
        self._progress.setAutoReset(False)
        self._progress.canceled.connect(self._cancel_export)
        self._progress.setValue(0)
        self._progress.show()
        self.export_button.setEnabled(False)
        self.runner.export(str(path), self.timeline, overwrite)

    def _cancel_export(self) -> None:
        self.runner.cancel()
        if self._progress is not None:
            self._progress.setLabelText("Cancelling…")

    # --- from the runner ---------------------------------------------------------------

    def _on_opened(self, info) -> None:  # noqa: ANN001 (VideoInfo)
        self.info = info
        self.timeline = Timeline()
        self.setWindowTitle(f"{info.path.name} — faceedit")
        self.time_slider.blockSignals(True)
        self.time_slider.setRange(0, max(0, int(info.duration * 1000) - 1))
        self.time_slider.setSingleStep(max(1, int(1000 / info.fps)) if info.fps else 40)
        self.time_slider.setPageStep(1000)
        self.time_slider.setValue(0)
        self.time_slider.blockSignals(False)
        self._update_time_label()
        self._sync_sliders()
        self._set_enabled(True)
        self.status.setText(describe_info(info))
        self.request_preview()

    def _on_preview(self, preview: VideoPreview) -> None:
        if preview.stamp != self._stamp:
            return  # a newer request is on its way
        self.last_preview = preview
        self.view.show_pixels(preview.edited)
        faces = "no face" if preview.faces == 0 else f"{preview.faces} face(s)"
        self.status.setText(f"{describe_info(self.info)} — frame {preview.index} at {format_time(preview.seconds)}: "
                            f"{faces}, {preview.milliseconds:.0f} ms")

    def _on_export_progress(self, progress: ExportProgress) -> None:
        if self._progress is None:
            return
        self._progress.setMaximum(max(progress.total, 1))
        self._progress.setValue(progress.done)
        if not self._progress.wasCanceled():
            self._progress.setLabelText(f"Exporting frame {progress.done} of {progress.total} — "
                                        f"about {format_time(progress.eta)} left")

    def _close_progress(self) -> None:
        if self._progress is not None:
            self._progress.canceled.disconnect(self._cancel_export)
            self._progress.close()
            self._progress.deleteLater()
            self._progress = None
        self.export_button.setEnabled(self.info is not None)

    def _on_export_finished(self, result) -> None:  # noqa: ANN001 (VideoEditResult)
        self._close_progress()
        self.last_result = result
        self.status.setText(result.line())

    def _on_export_cancelled(self) -> None:
        self._close_progress()
        self.status.setText("Export cancelled; nothing was written.")

    def _on_failed(self, message: str) -> None:
        exporting = self._progress is not None
        self._close_progress()
        self.last_error = message
        self.status.setText(message)
        if exporting or self.info is None:
            box = QMessageBox(QMessageBox.Icon.Warning, "faceedit", message, parent=self)
            box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            box.open()  # not exec(): the window keeps running

    # --- sliders and timeline ----------------------------------------------------------

    def _on_scrub(self, _value: int) -> None:
        self._update_time_label()
        self._sync_sliders()
        if not self._scrub_timer.isActive():
            self._scrub_timer.start()

    def _update_time_label(self) -> None:
        duration = self.info.duration if self.info is not None else 0.0
        self.time_label.setText(f"{format_time(self.seconds)} / {format_time(duration)}")

    def _on_slider(self, name: str, value: int) -> None:
        self.timeline = self.timeline.with_keyframe(Keyframe(self.seconds, name, value / SLIDER_STEPS))
        self.value_labels[name].setText(f"{value / SLIDER_STEPS:.2f}")
        self.keyframes_label.setText(describe_keyframes(self.timeline))
        self.request_preview()

    def _sync_sliders(self) -> None:
        """Show the timeline's state at the current time (without setting keyframes)."""
        state = self.timeline.at(self.seconds)
        for name, value in zip(EXPRESSIONS, state.values):
            slider = self.sliders[name]
            slider.blockSignals(True)
            slider.setValue(0 if value is None else round(value * SLIDER_STEPS))
            slider.blockSignals(False)
            self.value_labels[name].setText("—" if value is None else f"{value:.2f}")
        self.keyframes_label.setText(describe_keyframes(self.timeline))

    # --- closing -----------------------------------------------------------------------

    def done(self, result: int) -> None:  # noqa: D102 (QDialog's)
        self.runner.stop()  # cancels an export (nothing written) and ends the thread
        super().done(result)

    def closeEvent(self, event) -> None:  # noqa: ANN001, N802 (Qt's name)
        self.runner.stop()
        super().closeEvent(event)
