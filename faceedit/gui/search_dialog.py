"""Tools → Find Similar Expressions…: faces of a folder ranked by how alike their expression is (GUI thread).

The query is the selected face of the open photo, as the app has read it. Indexing the
folder and ranking (``faceedit.core.search``, the code behind ``faceedit search``) run on
the engine's :class:`~faceedit.engine.search_runner.SearchRunner`, on its own thread with
its own model copy; this dialog only shows progress and the ranked thumbnails.
Double-clicking a result opens that photo in the main window.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QCoreApplication, QSize, Qt
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
)

from faceedit.engine.search_runner import SearchRequest, SearchResult, SearchRunner
from faceedit.gui.photo_view import to_qimage
from faceedit.gui.widgets import folder_row

THUMB = 112
DEFAULT_TOP = 24


def result_caption(result: SearchResult) -> str:
    """One line under the results: faces, photos, what was read now, skipped files, time."""
    parts = [f"{result.faces} faces in {result.photos} photos", f"{result.read} read now, {result.reused} from the cache"]
    if result.unreadable:
        parts.append(f"{len(result.unreadable)} unreadable skipped")
    if result.cancelled:
        parts.append("stopped early: only the photos read so far are ranked")
    parts.append(f"ranked in {result.search_ms:.1f} ms")
    return "; ".join(parts)


class SearchDialog(QDialog):
    """Pick a folder, search, browse the ranked faces. Modeless; GUI thread."""

    def __init__(
        self,
        parent,  # noqa: ANN001 - any QWidget
        model_path: str,
        device: str,
        precision: str,
        query: tuple[float, ...],
        query_pixels: np.ndarray,
        query_box: tuple[int, int, int, int],
        query_name: str,
        query_path: Path | None = None,
        query_face: int = 0,
        folder: str = "",
        open_photo: Callable[[str], None] | None = None,
        runner: SearchRunner | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Find similar expressions")
        self._query = query
        self._query_path = query_path
        self._query_face = query_face
        self._open_photo = open_photo
        self.runner = runner or SearchRunner(model_path, device, precision=precision)
        self.runner.status.connect(self._on_status)
        self.runner.progress.connect(self._on_progress)
        self.runner.finished.connect(self._on_finished)
        self.runner.failed.connect(self._on_failed)
        # The app may quit with the dialog open: end the runner's thread before Qt goes.
        QCoreApplication.instance().aboutToQuit.connect(self.runner.stop)
        self.result: SearchResult | None = None

        from faceedit.core.search_sheet import face_thumbnail

        query_label = QLabel()
        query_label.setPixmap(QPixmap.fromImage(to_qimage(face_thumbnail(query_pixels, query_box, THUMB))))
        strongest = max(range(len(query)), key=lambda k: query[k]) if query else 0
        from faceedit.core.expressions import EXPRESSIONS

        reading = f"{EXPRESSIONS[strongest]} {query[strongest]:.2f}" if query and max(query) >= 0.3 else "neutral"
        query_text = QLabel(f"<b>Query</b>: {query_name}, face {query_face + 1}<br>read as {reading}")
        query_text.setWordWrap(True)
        top_row = QHBoxLayout()
        top_row.addWidget(query_label)
        top_row.addWidget(query_text, 1)

        self.folder_edit, self.browse_button, folder_widget = folder_row(self, "Folder to search")
        self.folder_edit.setText(folder)
        self.top_spin = QSpinBox()
        self.top_spin.setRange(0, 10000)
        self.top_spin.setValue(DEFAULT_TOP)
        self.top_spin.setSpecialValueText("all")
        self.top_spin.setToolTip("How many of the most similar faces to show (0 = all)")
        form = QFormLayout()
        form.addRow("Folder:", folder_widget)
        form.addRow("Show:", self.top_spin)

        self.search_button = QPushButton("Search")
        self.search_button.setDefault(True)
        self.search_button.clicked.connect(self.search)
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.clicked.connect(self.runner.cancel)
        close_button = QPushButton("Close")
        close_button.clicked.connect(self.close)
        buttons = QHBoxLayout()
        buttons.addWidget(self.search_button)
        buttons.addWidget(self.stop_button)
        buttons.addStretch(1)
        buttons.addWidget(close_button)

        self.progress_bar = QProgressBar()
        self.progress_bar.setVisible(False)
        self.status_label = QLabel("Choose a folder and press Search: every face in it is ranked by expression, not identity.")
        self.status_label.setWordWrap(True)
        self.results = QListWidget()
        self.results.setViewMode(QListView.ViewMode.IconMode)
        self.results.setIconSize(QSize(THUMB, THUMB))
        self.results.setGridSize(QSize(THUMB + 24, THUMB + 44))
        self.results.setResizeMode(QListView.ResizeMode.Adjust)
        self.results.setMovement(QListView.Movement.Static)
        self.results.setWordWrap(True)
        self.results.itemDoubleClicked.connect(self._open_item)

        layout = QVBoxLayout(self)
        layout.addLayout(top_row)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.status_label)
        layout.addWidget(self.results, 1)
        self.resize(760, 620)

    # --- actions ----------------------------------------------------------------------

    def search(self) -> None:
        """Start a search of the folder in the field (ignored while one runs)."""
        folder = self.folder_edit.text().strip()
        if not folder or not Path(folder).is_dir():
            self.status_label.setText(f"{folder or 'No folder'}: not a folder. Choose the folder to search.")
            return
        if self.runner.running:
            return
        self.results.clear()
        self.search_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self.progress_bar.setVisible(True)
        self.progress_bar.setRange(0, 0)
        self.status_label.setText("Searching…")
        self.runner.start(SearchRequest(Path(folder), tuple(self._query), self._query_path, self._query_face, self.top_spin.value()))

    def _open_item(self, item: QListWidgetItem) -> None:
        path = item.data(Qt.ItemDataRole.UserRole)
        if path and self._open_photo is not None:
            self._open_photo(path)

    # --- runner signals (queued to the GUI thread) --------------------------------------

    def _on_status(self, message: str) -> None:
        self.status_label.setText(message)

    def _on_progress(self, done: int, total: int, path: str) -> None:
        self.progress_bar.setRange(0, max(total, 1))
        self.progress_bar.setValue(done)
        self.status_label.setText(f"Reading photos for the index: {done} of {total} ({Path(path).name})")

    def _finish(self) -> None:
        self.search_button.setEnabled(True)
        self.stop_button.setEnabled(False)
        self.progress_bar.setVisible(False)

    def _on_failed(self, message: str) -> None:
        self._finish()
        self.status_label.setText(f"Search failed: {message}")

    def _on_finished(self, result: SearchResult) -> None:
        self._finish()
        self.result = result
        self.results.clear()
        for hit, thumbnail in zip(result.hits, result.thumbnails):
            item = QListWidgetItem(QIcon(QPixmap.fromImage(to_qimage(thumbnail))), f"#{hit.rank} {hit.score:.3f}\n{hit.path.name}")
            item.setData(Qt.ItemDataRole.UserRole, str(hit.path))
            levels = ", ".join(f"{k} {v:.2f}" for k, v in hit.expression.items())
            item.setToolTip(f"{hit.path}\nface {hit.face + 1}, score {hit.score:.4f}\n{levels}")
            self.results.addItem(item)
        caption = result_caption(result)
        if not result.hits:
            caption = "No faces found in this folder. " + caption
        self.status_label.setText(caption)
        if result.unreadable:
            self.status_label.setToolTip("\n".join(f"{path}: {reason}" for path, reason in result.unreadable[:50]))

    def done(self, result: int) -> None:
        """Close (Close, Escape or the window's ×): stop the runner and its thread first."""
        self.runner.stop()
        super().done(result)

    def closeEvent(self, event) -> None:  # noqa: ANN001, N802 (Qt's name)
        self.runner.stop()
        super().closeEvent(event)
