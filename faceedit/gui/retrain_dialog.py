"""Model → Retrain: prepare a dataset and train a model in a child process (GUI thread).

The work is ``faceedit-train`` itself, run by the engine's
:class:`~faceedit.engine.retrain.RetrainProcess`; this dialog picks the settings and shows
what the child reports: progress with ETA, live loss curves, the latest sample grid and the
log. When a model has been exported it asks whether to load it and, if so, emits
``model_ready(path)`` for the main window to hand to its worker.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QFontDatabase, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from faceedit.engine.retrain import RetrainProcess, RetrainSettings, default_work_dir, resumable_run
from faceedit.gui.settings import PRECISION_CHOICES
from faceedit.gui.widgets import folder_row
from faceedit.training.datasets import KIND_CHOICES, check_dataset
from faceedit.training.presets import PRESET_INFO, preset_image_size
from faceedit.training.runs import Progress, run_progress

DEVICE_CHOICES: tuple[tuple[str, str], ...] = (
    ("auto", "auto (a CUDA GPU if there is one)"),
    ("cpu", "CPU"),
    ("cuda", "CUDA GPU"),
)
KIND_NAMES: dict[str, str] = {
    "auto": "detect",
    "oulu": "Oulu-CASIA",
    "folders": "expression folders",
    "pairs": "paired neutral/smiling folders",
}
PHASE_TEXT: dict[str, str] = {"prepare": "Preparing the faces…", "train": "Training…", "export": "Writing the model file…"}
TOTAL_KEY = "G/total"
# Distinct colours on the plot's black (Tableau-like, without the yellow kept for G/total).
# G/ and D/ keys each walk the list; D/ lines are dashed, so the two families stay apart.
CURVE_COLOURS = ("#4e9be0", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#b07aa1",
                 "#ff9da7", "#c49c7a", "#bab0ac", "#a0e85b", "#d37295", "#86bcf9")  # fmt: skip


def format_duration(seconds: float) -> str:
    """mm:ss, or h:mm:ss from an hour on."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


class ScaledImage(QLabel):
    """An image scaled to fit, keeping its aspect ratio (the sample grid)."""

    def __init__(self, placeholder: str) -> None:
        super().__init__(placeholder)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.setMinimumSize(240, 160)
        self._pixmap: QPixmap | None = None
        self.path: str | None = None

    def show_file(self, path: str) -> bool:
        pixmap = QPixmap(path)
        if pixmap.isNull():
            return False  # being replaced at this moment: the next progress line brings it again
        self._pixmap, self.path = pixmap, path
        self._refit()
        return True

    @property
    def has_image(self) -> bool:
        return self._pixmap is not None

    def resizeEvent(self, event) -> None:  # noqa: ANN001, N802 (Qt's name)
        super().resizeEvent(event)
        self._refit()

    def _refit(self) -> None:
        if self._pixmap is not None:
            scaled = self._pixmap.scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
            self.setPixmap(scaled)


class LossPlot(QWidget):
    """Live loss curves: one line per loss key, G/total drawn thick (pyqtgraph)."""

    def __init__(self) -> None:
        super().__init__()
        import pyqtgraph as pg  # here, not at import: the main window need not load it to start

        self._pg = pg
        # The legend sits in its own row under the plot: a dozen keys drawn over the
        # curves would hide them.
        self.view = pg.GraphicsLayoutWidget()
        self.view.setMinimumSize(320, 220)
        self.plot = self.view.addPlot(row=0, col=0)
        self.plot.setLabel("bottom", "step")
        self.plot.setLabel("left", "loss")
        self.plot.setLogMode(y=True)  # losses span 1e-3 (tv) to ~10 (G/total)
        self.plot.showGrid(x=True, y=True, alpha=0.2)
        self.legend = pg.LegendItem(colCount=3, frame=False, labelTextSize="8pt", horSpacing=12)
        self.view.addItem(self.legend, row=1, col=0)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.view)
        self.curves: dict[str, object] = {}
        self._data: dict[str, tuple[list[float], list[float]]] = {}

    def clear(self) -> None:
        for curve in self.curves.values():
            self.plot.removeItem(curve)
        self.legend.clear()
        self.curves.clear()
        self._data.clear()

    def add(self, step: int, losses: dict[str, float]) -> None:
        for key, value in losses.items():
            if key not in self.curves:
                self._add_curve(key)
            steps, values = self._data[key]
            while steps and steps[-1] >= step:  # a resumed run repeats steps after its checkpoint
                steps.pop()
                values.pop()
            steps.append(float(step))
            values.append(max(float(value), 1e-6))  # log axis: no zeros
            self.curves[key].setData(steps, values)

    def _add_curve(self, key: str) -> None:
        pg = self._pg
        if key == TOTAL_KEY:
            pen = pg.mkPen("#ffd54a", width=3.5)
        else:
            family = key.split("/", 1)[0]
            index = sum(1 for k in self.curves if k != TOTAL_KEY and k.split("/", 1)[0] == family)
            style = Qt.PenStyle.DashLine if family == "D" else Qt.PenStyle.SolidLine
            pen = pg.mkPen(CURVE_COLOURS[index % len(CURVE_COLOURS)], width=2, style=style)
        curve = self.plot.plot([], [], pen=pen)
        self.legend.addItem(curve, key)
        if key == TOTAL_KEY:
            curve.setZValue(10)  # above the others
        self.curves[key] = curve
        self._data[key] = ([], [])

    def points(self, key: str) -> int:
        return len(self._data.get(key, ([], []))[0])


class RetrainDialog(QDialog):
    """Dataset, preset, device, length; Start/Cancel/Resume; progress, curves, samples, log."""

    model_ready = Signal(str)  # the new model file, when the user chose to load it

    def __init__(self, parent: QWidget | None = None, work_dir: str | Path | None = None, precision: str = "auto") -> None:
        super().__init__(parent)
        self.setWindowTitle("Retrain the model — faceedit")
        self.resize(1040, 760)
        self.process = RetrainProcess(self)
        self.process.phase_changed.connect(self._on_phase)
        self.process.stage_changed.connect(self._on_stage)
        self.process.run_found.connect(self._on_run_found)
        self.process.progress.connect(self._on_progress)
        self.process.log.connect(self._append_log)
        self.process.finished.connect(self._on_finished)
        self.process.failed.connect(self._on_failed)
        self.process.cancelled.connect(self._on_cancelled)
        self.model_path: str | None = None
        self.last_progress: Progress | None = None
        self._stage = ""
        self._check_timer = QTimer(self)
        self._check_timer.setSingleShot(True)
        self._check_timer.setInterval(300)
        self._check_timer.timeout.connect(self._check_dataset)
        self._build_ui(Path(work_dir) if work_dir else default_work_dir(), precision)
        self._set_running(False)

    # --- layout ------------------------------------------------------------------------

    def _build_ui(self, work_dir: Path, precision: str) -> None:
        self.dataset_edit, dataset_row = self._folder_row("Choose the dataset folder")
        self.dataset_edit.setPlaceholderText("an Oulu-CASIA copy, a folder of expression folders, or neutral/ + smiling/")
        self.dataset_edit.textChanged.connect(lambda _: self._check_timer.start())
        self.detected_label = QLabel("")
        self.detected_label.setWordWrap(True)
        self.kind_combo = QComboBox()
        for kind in KIND_CHOICES:
            self.kind_combo.addItem(KIND_NAMES[kind], kind)
        self.preset_combo = QComboBox()
        for info in PRESET_INFO.values():
            self.preset_combo.addItem(info.choice_text, info.name)
        self.device_combo = QComboBox()
        for device, text in DEVICE_CHOICES:
            self.device_combo.addItem(text, device)
        self.precision_combo = QComboBox()
        for name, text in PRECISION_CHOICES:
            self.precision_combo.addItem(text, name)
        self.precision_combo.setCurrentIndex(max(0, self.precision_combo.findData(precision)))
        self.precision_combo.setToolTip("What training computes in; a resumed run keeps the precision it started with")
        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(0, 10_000_000)
        self.steps_spin.setSingleStep(1000)
        self.steps_spin.setSpecialValueText("the preset's length")
        self.steps_spin.setSuffix(" steps")
        self.steps_spin.setToolTip("Shorten training to this many steps in all (0: the preset's own curriculum)")
        self.work_edit, work_row = self._folder_row("Choose the work folder (prepared faces, runs, models)")
        self.work_edit.setText(str(work_dir))
        self.work_edit.textChanged.connect(lambda _: self._update_resume())

        settings = QGridLayout()
        settings.addWidget(QLabel("Dataset:"), 0, 0)
        settings.addWidget(dataset_row, 0, 1, 1, 3)
        settings.addWidget(self.detected_label, 1, 1, 1, 3)
        settings.addWidget(QLabel("Layout:"), 2, 0)
        settings.addWidget(self.kind_combo, 2, 1)
        settings.addWidget(QLabel("Preset:"), 2, 2)
        settings.addWidget(self.preset_combo, 2, 3)
        settings.addWidget(QLabel("Device:"), 3, 0)
        settings.addWidget(self.device_combo, 3, 1)
        settings.addWidget(QLabel("Length:"), 3, 2)
        settings.addWidget(self.steps_spin, 3, 3)
        settings.addWidget(QLabel("Precision:"), 4, 0)
        settings.addWidget(self.precision_combo, 4, 1)
        settings.addWidget(QLabel("Work folder:"), 5, 0)
        settings.addWidget(work_row, 5, 1, 1, 3)
        settings.setColumnStretch(1, 1)
        settings.setColumnStretch(3, 2)

        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("")
        self.status_label = QLabel(
            "Start prepares the faces, trains and writes a model file. Cancel stops and keeps the state; Resume continues."
        )
        self.status_label.setWordWrap(True)

        self.loss_plot = LossPlot()
        self.sample_view = ScaledImage("The latest sample grid appears here: each row a test face, its reconstruction and its edits")
        self.sample_view.setWordWrap(True)
        curves_box, samples_box = QGroupBox("Losses"), QGroupBox("Latest samples")
        QVBoxLayout(curves_box).addWidget(self.loss_plot)
        QVBoxLayout(samples_box).addWidget(self.sample_view)
        views = QSplitter(Qt.Orientation.Horizontal)
        views.addWidget(curves_box)
        views.addWidget(samples_box)
        views.setSizes([560, 440])  # sample grids are wide (8 columns): give them room
        self.log_view = QPlainTextEdit()
        self.log_view.setReadOnly(True)
        self.log_view.setMaximumBlockCount(5000)
        self.log_view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.log_view.setPlaceholderText("The trainer's output appears here.")
        body = QSplitter(Qt.Orientation.Vertical)
        body.addWidget(views)
        body.addWidget(self.log_view)
        body.setStretchFactor(0, 3)
        body.setStretchFactor(1, 1)

        self.start_button = QPushButton("Start")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Continue the newest stopped run in the work folder")
        self.resume_button.clicked.connect(self.resume)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop training; its state is saved and Resume continues it")
        self.cancel_button.clicked.connect(self.cancel)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.close)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        for button in (self.start_button, self.resume_button, self.cancel_button, self.close_button):
            buttons.addWidget(button)

        layout = QVBoxLayout(self)
        layout.addLayout(settings)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.status_label)
        layout.addWidget(body, 1)
        layout.addLayout(buttons)

    def _folder_row(self, caption: str) -> tuple[QLineEdit, QWidget]:
        edit, _, row = folder_row(self, caption)
        return edit, row

    # --- settings ----------------------------------------------------------------------

    def settings(self) -> RetrainSettings:
        """The form as settings; ValueError with a message for the user when incomplete."""
        dataset, work = self.dataset_edit.text().strip(), self.work_edit.text().strip()
        if not dataset:
            raise ValueError("choose a dataset folder")
        if not work:
            raise ValueError("choose a work folder")
        preset = self.preset_combo.currentData()
        return RetrainSettings(
            dataset=Path(dataset).expanduser(),
            work=Path(work).expanduser(),
            preset=preset,
            device=self.device_combo.currentData(),
            precision=self.precision_combo.currentData(),
            max_steps=self.steps_spin.value() or None,
            kind=self.kind_combo.currentData(),
            size=preset_image_size(preset),
        )

    def _check_dataset(self) -> None:
        text = self.dataset_edit.text().strip()
        if not text:
            self.detected_label.setText("")
            return
        check = check_dataset(text)
        self.detected_label.setStyleSheet("" if check.ok else "color: #e0a040;")
        self.detected_label.setText(("Found: " if check.ok else "") + check.description)
        if check.ok and self.kind_combo.currentData() == "auto":
            self.kind_combo.setItemText(0, f"detect ({KIND_NAMES[check.kind or 'auto']})")
        else:
            self.kind_combo.setItemText(0, KIND_NAMES["auto"])

    def _update_resume(self) -> None:
        work = self.work_edit.text().strip()
        run = resumable_run(Path(work)) if work else None
        progress = run_progress(run) if run else None
        unfinished = run is not None and (progress is None or progress.step < progress.total_steps)
        self.resume_button.setEnabled(not self.process.running and unfinished)
        if run is not None and unfinished and progress is not None:
            self.resume_button.setToolTip(f"Continue {run.name} from step {progress.step} of {progress.total_steps}")

    # --- actions -----------------------------------------------------------------------

    def start(self) -> None:
        try:
            settings = self.settings()
        except ValueError as error:
            self._show_problem(str(error))
            return
        self._begin(f"Starting: {settings.preset} preset, faces of {settings.image_size} px")
        self.process.start(settings)

    def resume(self) -> None:
        work = self.work_edit.text().strip()
        if not work:
            self._show_problem("choose the work folder holding the run to resume")
            return
        preset = self.preset_combo.currentData()
        settings = RetrainSettings(dataset=Path(self.dataset_edit.text().strip() or "."), work=Path(work).expanduser(),
                                   preset=preset, device=self.device_combo.currentData())  # fmt: skip
        self._begin("Resuming…")
        self.process.resume(settings)

    def cancel(self) -> None:
        if self.process.running:
            self.process.cancel()
            self.cancel_button.setEnabled(False)
            self.status_label.setText("Stopping: the trainer saves its state first…")

    def _begin(self, text: str) -> None:
        self.model_path = None
        self.last_progress = None
        self._stage = ""
        self.loss_plot.clear()
        self.status_label.setStyleSheet("")
        self.status_label.setText(text)
        self.progress_bar.setRange(0, 0)
        self.progress_bar.setFormat("")
        self._set_running(True)

    def _set_running(self, running: bool) -> None:
        for widget in (self.dataset_edit, self.kind_combo, self.preset_combo, self.device_combo, self.precision_combo,
                       self.steps_spin, self.work_edit):
            widget.setEnabled(not running)
        self.start_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)
        self._update_resume()

    def _show_problem(self, message: str) -> None:
        text = message[:1].upper() + message[1:]
        self.status_label.setStyleSheet("color: #e05050;")
        self.status_label.setText(text)
        QMessageBox.warning(self, "Retrain", text)

    # --- process reports ---------------------------------------------------------------

    def _on_phase(self, phase: str) -> None:
        self.status_label.setText(PHASE_TEXT.get(phase, phase))
        if phase != "train":
            self.progress_bar.setRange(0, 0)  # prepare and export report no steps
            self.progress_bar.setFormat("")

    def _on_stage(self, stage: str) -> None:
        self._stage = stage
        self._append_log(f"— stage: {stage}")

    def _on_run_found(self, run: str) -> None:
        self.setWindowTitle(f"Retrain the model — {Path(run).name} — faceedit")
        self._update_resume()

    def _on_progress(self, progress: Progress) -> None:
        self.last_progress = progress
        self.progress_bar.setRange(0, max(progress.total_steps, 1))
        self.progress_bar.setValue(progress.step)
        eta = f" — ETA {format_duration(progress.eta_seconds)}" if progress.step < progress.total_steps else ""
        self.progress_bar.setFormat(f"step {progress.step} / {progress.total_steps}{eta}")
        if self.cancel_button.isEnabled():  # keep "Stopping…" once asked
            total = progress.losses.get(TOTAL_KEY)
            loss = f" · G/total {total:.3f}" if total is not None else ""
            self.status_label.setText(f"Training · {progress.stage} stage · {progress.images_per_second:.1f} images/s{loss}")
        self.loss_plot.add(progress.step, progress.losses)
        if progress.sample and progress.sample != self.sample_view.path:
            self.sample_view.show_file(progress.sample)

    def _append_log(self, line: str) -> None:
        self.log_view.appendPlainText(line)

    def _on_finished(self, model_path: str) -> None:
        self.model_path = model_path
        self._set_running(False)
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(1)
        self.progress_bar.setFormat("done")
        self.status_label.setText(f"Finished: {model_path}")
        answer = QMessageBox.question(
            self, "Retrain", f"Training finished; the model is in\n{model_path}\n\nLoad the new model now?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes,
        )  # fmt: skip
        if answer == QMessageBox.StandardButton.Yes:
            self.model_ready.emit(model_path)

    def _on_failed(self, message: str) -> None:
        self._set_running(False)
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("")
        self._append_log(f"error: {message}")
        self._show_problem(message)

    def _on_cancelled(self, run: str) -> None:
        self._set_running(False)
        done = self.last_progress
        where = f" at step {done.step} of {done.total_steps}" if done else ""
        resume = "; Resume continues it" if self.resume_button.isEnabled() else ""
        self.status_label.setText(f"Stopped{where}{resume}.")
        if done is None:
            self.progress_bar.setRange(0, 1)
            self.progress_bar.setValue(0)
            self.progress_bar.setFormat("stopped")
        else:
            self.progress_bar.setFormat(f"step {done.step} / {done.total_steps} — stopped")

    # --- closing -----------------------------------------------------------------------

    def _may_close(self) -> bool:
        """Ask before stopping a running job; stop it (waiting for its save) if the user agrees."""
        if not self.process.running:
            return True
        answer = QMessageBox.question(
            self, "Retrain", "Training is running. Stop it?\n\nIts state is saved; Resume continues it later.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No,
        )  # fmt: skip
        if answer != QMessageBox.StandardButton.Yes:
            return False
        self.status_label.setText("Stopping: the trainer saves its state first…")
        self.process.shutdown()
        return True

    def done(self, result: int) -> None:  # Close button, Esc, the window's close box
        if self._may_close():
            super().done(result)

    def closeEvent(self, event) -> None:  # noqa: ANN001, N802 (Qt's name)
        if not self._may_close():
            event.ignore()
            return
        super().closeEvent(event)
