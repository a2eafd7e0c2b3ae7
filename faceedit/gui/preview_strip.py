"""Pictures before words: six small previews of the selected face, one per expression (GUI thread).

Each preview is a button showing the face at that expression at 1.0, its name under it;
clicking one emits ``chosen(name)``. The images come from the engine's worker
(``EditWorker.request_previews`` → ``previews_ready``); this widget only shows them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import QGridLayout, QSizePolicy, QToolButton, QWidget

from faceedit.core.expressions import EXPRESSIONS
from faceedit.gui.photo_view import to_qimage

PREVIEW_HEIGHT = 96
COLUMNS = 3


class PreviewStrip(QWidget):
    """Six preview buttons in EXPRESSIONS order, three to a row; emits ``chosen(name)`` on a click."""

    chosen = Signal(str)

    def __init__(self, height: int = PREVIEW_HEIGHT) -> None:
        super().__init__()
        self._height = height
        grid = QGridLayout(self)
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setSpacing(4)
        self.buttons: dict[str, QToolButton] = {}
        for index, name in enumerate(EXPRESSIONS):
            button = QToolButton()
            button.setObjectName(f"preview-{name}")
            button.setText(name.capitalize())
            button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextUnderIcon)
            button.setIconSize(QSize(height, height))
            button.setAutoRaise(True)
            button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
            button.setToolTip(f"set {name} to 1.0")
            button.clicked.connect(lambda _=False, n=name: self.chosen.emit(n))
            grid.addWidget(button, index // COLUMNS, index % COLUMNS)
            self.buttons[name] = button
        self.clear()

    def show_previews(self, images: Sequence[np.ndarray]) -> None:
        """Show six RGB uint8 images (EXPRESSIONS order) and enable the buttons."""
        if len(images) != len(EXPRESSIONS):
            raise ValueError(f"expected {len(EXPRESSIONS)} previews, got {len(images)}")
        for name, image in zip(EXPRESSIONS, images):
            button = self.buttons[name]
            pixmap = QPixmap.fromImage(to_qimage(image))
            button.setIconSize(pixmap.size())
            button.setIcon(QIcon(pixmap))
            button.setEnabled(True)

    def clear(self) -> None:
        """No face to preview: blank, disabled buttons that keep their size (the layout does not jump)."""
        blank = QPixmap(self._height, self._height)
        blank.fill(Qt.GlobalColor.transparent)
        for button in self.buttons.values():
            button.setIconSize(QSize(self._height, self._height))
            button.setIcon(QIcon(blank))
            button.setEnabled(False)

    @property
    def shown(self) -> bool:
        """True while previews are shown (the buttons are enabled)."""
        return all(button.isEnabled() for button in self.buttons.values())
