"""The photo view: zoom and pan, face outlines to click, before/after comparison (GUI thread).

Comparison has two forms: a split view, where the original shows left of a draggable line
and the edit to its right; and "hold to see the original" (the window holds a key and
calls :meth:`PhotoView.show_original`).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QImage, QPainter, QPen, QPixmap, QWheelEvent
from PySide6.QtWidgets import QGraphicsPixmapItem, QGraphicsRectItem, QGraphicsScene, QGraphicsView

SELECTED = QColor(80, 200, 255)
UNSELECTED = QColor(255, 255, 255, 150)


def to_qimage(pixels: np.ndarray, copy: bool = True) -> QImage:
    """An RGB uint8 array as a QImage.

    With ``copy=False`` the image borrows the array's memory: only for immediate use while
    the array lives (the view turns it straight into a pixmap, which copies anyway).
    """
    pixels = np.ascontiguousarray(pixels)
    height, width = pixels.shape[:2]
    image = QImage(pixels.data, width, height, 3 * width, QImage.Format.Format_RGB888)
    return image.copy() if copy else image


def from_qimage(image: QImage) -> np.ndarray:
    """A QImage (any format) as an H×W×3 uint8 RGB array."""
    image = image.convertToFormat(QImage.Format.Format_RGB888)
    width, height = image.width(), image.height()
    buffer = np.frombuffer(image.constBits(), np.uint8, count=image.bytesPerLine() * height)
    return buffer.reshape(height, image.bytesPerLine())[:, : 3 * width].reshape(height, width, 3).copy()


class PhotoView(QGraphicsView):
    """Shows one photo; emits ``face_clicked(index)`` when a face outline is clicked."""

    face_clicked = Signal(int)
    split_moved = Signal(float)

    def __init__(self) -> None:
        super().__init__()
        self.setScene(QGraphicsScene(self))
        self.setRenderHints(QPainter.RenderHint.SmoothPixmapTransform | QPainter.RenderHint.Antialiasing)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setBackgroundBrush(QBrush(QColor(30, 34, 40)))
        self._item = QGraphicsPixmapItem()
        self._item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.scene().addItem(self._item)
        self._boxes: list[QGraphicsRectItem] = []
        self._split_line = self.scene().addLine(0, 0, 0, 0, QPen(QColor(255, 200, 0), 0))
        self._split_line.setVisible(False)
        self._original: np.ndarray | None = None
        self._edited: np.ndarray | None = None
        self._split: float | None = None  # fraction of the width showing the original, or None
        self._holding_original = False
        self._fitted = True
        self.selected = 0

    # --- content -----------------------------------------------------------------------

    def set_photo(self, original: np.ndarray, boxes: tuple[tuple[int, int, int, int], ...]) -> None:
        self._original, self._edited = original, original
        for box in self._boxes:
            self.scene().removeItem(box)
        self._boxes = []
        for x0, y0, x1, y1 in boxes:
            item = self.scene().addRect(QRectF(x0, y0, x1 - x0, y1 - y0))
            item.setZValue(1)
            self._boxes.append(item)
        self.selected = 0
        self._style_boxes()
        self._refresh()
        self.scene().setSceneRect(QRectF(0, 0, original.shape[1], original.shape[0]))
        self.fit()

    def set_edited(self, edited: np.ndarray) -> None:
        self._edited = edited
        self._refresh()

    def displayed(self) -> np.ndarray | None:
        """The pixels on screen now (edited, original, or the split composite)."""
        return self._composite()

    def select(self, index: int) -> None:
        self.selected = index
        self._style_boxes()

    def set_outlines_visible(self, visible: bool) -> None:
        for box in self._boxes:
            box.setVisible(visible)

    # --- comparison --------------------------------------------------------------------

    def set_split(self, fraction: float | None) -> None:
        """Show the original left of ``fraction`` of the width (None: the edit only)."""
        self._split = None if fraction is None else float(np.clip(fraction, 0.0, 1.0))
        self._refresh()

    def show_original(self, holding: bool) -> None:
        self._holding_original = holding
        self._refresh()

    def _composite(self) -> np.ndarray | None:
        if self._original is None or self._edited is None:
            return None
        if self._holding_original:
            return self._original
        if self._split is None:
            return self._edited
        column = int(round(self._split * self._original.shape[1]))
        shown = self._edited.copy()
        shown[:, :column] = self._original[:, :column]
        return shown

    def _refresh(self) -> None:
        shown = self._composite()
        if shown is None:
            return
        self._item.setPixmap(QPixmap.fromImage(to_qimage(shown, copy=False)))  # the pixmap copies
        if self._split is not None and not self._holding_original:
            x = self._split * shown.shape[1]
            self._split_line.setLine(x, 0, x, shown.shape[0])
            self._split_line.setVisible(True)
        else:
            self._split_line.setVisible(False)

    def _style_boxes(self) -> None:
        for index, box in enumerate(self._boxes):
            colour = SELECTED if index == self.selected else UNSELECTED
            pen = QPen(colour, 3 if index == self.selected else 2)
            pen.setCosmetic(True)  # the same thickness at any zoom
            box.setPen(pen)

    # --- zoom and pan --------------------------------------------------------------------

    def fit(self) -> None:
        if self._original is not None:
            self.fitInView(self.scene().sceneRect(), Qt.AspectRatioMode.KeepAspectRatio)
            self._fitted = True

    def zoom(self, factor: float) -> None:
        self._fitted = False
        self.scale(factor, factor)

    def actual_size(self) -> None:
        self._fitted = False
        self.resetTransform()

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 (Qt's name)
        self.zoom(1.25 if event.angleDelta().y() > 0 else 0.8)

    def resizeEvent(self, event) -> None:  # noqa: ANN001, N802
        super().resizeEvent(event)
        if self._fitted:
            self.fit()

    def mousePressEvent(self, event) -> None:  # noqa: ANN001, N802
        point: QPointF = self.mapToScene(event.position().toPoint())
        if event.button() == Qt.MouseButton.LeftButton:
            if self._split is not None and self._original is not None and abs(point.x() - self._split * self._original.shape[1]) < 12 / max(self.transform().m11(), 1e-6):
                self._dragging_split = True
                return
            for index, box in enumerate(self._boxes):
                if box.isVisible() and box.rect().contains(point):
                    self.select(index)
                    self.face_clicked.emit(index)
                    return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:  # noqa: ANN001, N802
        if getattr(self, "_dragging_split", False) and self._original is not None:
            point = self.mapToScene(event.position().toPoint())
            self.set_split(point.x() / self._original.shape[1])
            self.split_moved.emit(self._split or 0.0)
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event) -> None:  # noqa: ANN001, N802
        self._dragging_split = False
        super().mouseReleaseEvent(event)
