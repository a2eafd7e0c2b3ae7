"""The main window: the photo, six expression sliders, open and save (GUI thread).

All model work happens in the engine's worker thread; this window sends it slider
states and shows the newest result it gets back.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QImage, QKeySequence, QPixmap
from PySide6.QtWidgets import (
    QFileDialog,
    QGridLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QSlider,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from faceedit.core.errors import FaceeditError
from faceedit.core.expressions import EXPRESSIONS, ExpressionTargets
from faceedit.core.imageio import save_photo
from faceedit.core.resources import default_model_path, sample_photo_path
from faceedit.engine.worker import EditWorker, ModelReady, PhotoReady, RenderResult

SLIDER_STEPS = 100
PHOTO_FILTER = "Photos (*.jpg *.jpeg *.png *.webp *.bmp *.tif *.tiff)"
ATTRIBUTION = (
    "Sample photo: Face Research Lab London Set, DeBruine, L. & Jones, B. (2017), "
    "figshare, doi:10.6084/m9.figshare.5047666.v5, CC BY 4.0."
)


def to_qimage(pixels: np.ndarray) -> QImage:
    """An RGB uint8 array as a QImage (copied, so the array may change afterwards)."""
    pixels = np.ascontiguousarray(pixels)
    height, width = pixels.shape[:2]
    return QImage(pixels.data, width, height, 3 * width, QImage.Format.Format_RGB888).copy()


class PhotoView(QLabel):
    """Shows a photo scaled to fit, keeping its aspect ratio."""

    def __init__(self) -> None:
        super().__init__("Open a photo with File → Open… (Ctrl+O)")
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.setMinimumSize(320, 240)
        self._pixmap: QPixmap | None = None

    def show_pixels(self, pixels: np.ndarray) -> None:
        self._pixmap = QPixmap.fromImage(to_qimage(pixels))
        self._refit()

    def resizeEvent(self, event) -> None:  # noqa: ANN001, N802 (Qt's name)
        super().resizeEvent(event)
        self._refit()

    def _refit(self) -> None:
        if self._pixmap is not None:
            self.setPixmap(self._pixmap.scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation))


class MainWindow(QMainWindow):
    def __init__(self, model: str | None = None, device: str | None = None, photo: str | None = None, synchronous: bool = False) -> None:
        super().__init__()
        self.setWindowTitle("faceedit")
        self.resize(1100, 720)
        self.worker = EditWorker(synchronous=synchronous)
        self.worker.model_ready.connect(self._on_model_ready)
        self.worker.photo_ready.connect(self._on_photo_ready)
        self.worker.rendered.connect(self._on_rendered)
        self.worker.failed.connect(self._on_failed)
        self._stamp = 0
        self._shown_stamp = -1
        self._targets = ExpressionTargets()
        self._photo: PhotoReady | None = None
        self._current: np.ndarray | None = None
        self._build_ui()
        self._build_menu()
        self._start(model, device, photo)

    # --- layout ------------------------------------------------------------------------

    def _build_ui(self) -> None:
        self.view = PhotoView()
        panel = QWidget()
        grid = QGridLayout()
        self.sliders: dict[str, QSlider] = {}
        self.value_labels: dict[str, QLabel] = {}
        for row, name in enumerate(EXPRESSIONS):
            slider = QSlider(Qt.Orientation.Horizontal)
            slider.setRange(0, SLIDER_STEPS)
            slider.setEnabled(False)
            slider.valueChanged.connect(lambda value, name=name: self._on_slider(name, value))
            value = QLabel("–")
            value.setMinimumWidth(130)
            grid.addWidget(QLabel(name.capitalize()), row, 0)
            grid.addWidget(slider, row, 1)
            grid.addWidget(value, row, 2)
            self.sliders[name], self.value_labels[name] = slider, value
        self.reset_button = QPushButton("Reset all")
        self.reset_button.clicked.connect(self.reset_all)
        layout = QVBoxLayout(panel)
        layout.addLayout(grid)
        layout.addWidget(self.reset_button)
        layout.addStretch(1)
        splitter = QSplitter()
        splitter.addWidget(self.view)
        splitter.addWidget(panel)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 1)
        panel.setMinimumWidth(340)
        splitter.setSizes([760, 340])
        self.setCentralWidget(splitter)
        self.model_label, self.render_label = QLabel("no model"), QLabel("")
        self.statusBar().addPermanentWidget(self.render_label)
        self.statusBar().addPermanentWidget(self.model_label)

    def _build_menu(self) -> None:
        file_menu = self.menuBar().addMenu("&File")
        for text, shortcut, slot in (
            ("&Open…", QKeySequence.StandardKey.Open, self.open_dialog),
            ("&Save As…", QKeySequence.StandardKey.SaveAs, self.save_dialog),
            ("&Quit", QKeySequence.StandardKey.Quit, self.close),
        ):
            action = QAction(text, self)
            action.setShortcut(shortcut)
            action.triggered.connect(slot)
            file_menu.addAction(action)
        model_menu = self.menuBar().addMenu("&Model")
        open_model = QAction("Open &model…", self)
        open_model.triggered.connect(self.open_model_dialog)
        model_menu.addAction(open_model)
        about = QAction("&About faceedit", self)
        about.triggered.connect(self.about)
        self.menuBar().addMenu("&Help").addAction(about)

    def _start(self, model: str | None, device: str | None, photo: str | None) -> None:
        self._device = device or "auto"
        try:
            self.worker.load_model(str(default_model_path(model)), self._device)
        except FaceeditError as error:
            self.statusBar().showMessage(str(error))
        start_photo = photo or (str(sample_photo_path()) if sample_photo_path().exists() else None)
        if start_photo:
            self.open_photo(start_photo)

    # --- actions -----------------------------------------------------------------------

    def open_photo(self, path: str) -> None:
        self.statusBar().showMessage(f"Opening {path}…")
        self.worker.open_photo(path)

    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open photo", "", PHOTO_FILTER)
        if path:
            self.open_photo(path)

    def open_model_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open model", "", "faceedit models (*.pt)")
        if path:
            self.worker.load_model(path, self._device)

    def save_dialog(self) -> None:
        if self._current is None:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save edited photo", "", PHOTO_FILTER)
        if not path:
            return
        try:
            save_photo(path, self._current, overwrite=True)  # the dialog already asked about replacing
            self.statusBar().showMessage(f"Saved {path}")
        except FaceeditError as error:
            QMessageBox.warning(self, "faceedit", str(error))

    def reset_all(self) -> None:
        self._targets = ExpressionTargets()
        self._show_recognised()
        self._request_render()

    def about(self) -> None:
        QMessageBox.about(self, "About faceedit", f"faceedit — facial-expression editing with ExprGAN.\n\n{ATTRIBUTION}")

    # --- worker results ----------------------------------------------------------------

    def _on_model_ready(self, ready: ModelReady) -> None:
        self.model_label.setText(f"{ready.name} · {ready.device}")
        self.model_label.setToolTip(ready.description)

    def _on_photo_ready(self, photo: PhotoReady) -> None:
        self._photo = photo
        self._current = photo.pixels
        self._targets = ExpressionTargets()
        self.view.show_pixels(photo.pixels)
        self.setWindowTitle(f"faceedit — {photo.path.name}")
        self._show_recognised()
        faces = len(photo.recognised)
        self.statusBar().showMessage(f"{photo.path.name}: {faces} face(s) ready to edit" if faces else f"{photo.path.name}: no face to edit")

    def _on_rendered(self, result: RenderResult) -> None:
        if result.stamp < self._shown_stamp:
            return  # an older request finished after a newer one: drop it
        self._shown_stamp = result.stamp
        self._current = result.pixels
        self.view.show_pixels(result.pixels)
        self.render_label.setText(f"render {result.milliseconds:.0f} ms")

    def _on_failed(self, message: str) -> None:
        self.statusBar().showMessage(message)
        QMessageBox.warning(self, "faceedit", message)

    # --- sliders -----------------------------------------------------------------------

    def _show_recognised(self) -> None:
        recognised = self._photo.recognised[0] if self._photo and self._photo.recognised else None
        for index, name in enumerate(EXPRESSIONS):
            slider = self.sliders[name]
            slider.blockSignals(True)
            slider.setValue(round((recognised[index] if recognised else 0.0) * SLIDER_STEPS))
            slider.blockSignals(False)
            slider.setEnabled(recognised is not None)
            self.value_labels[name].setText(f"{recognised[index]:.2f} (recognised)" if recognised else "–")

    def _on_slider(self, name: str, value: int) -> None:
        intensity = value / SLIDER_STEPS
        self._targets = self._targets.with_value(name, intensity)
        self.value_labels[name].setText(f"{intensity:.2f}")
        self._request_render()

    def _request_render(self) -> None:
        self._stamp += 1
        self.worker.request_render(self._stamp, self._targets)

    def closeEvent(self, event) -> None:  # noqa: ANN001, N802 (Qt's name)
        self.worker.stop()
        super().closeEvent(event)
