"""Small widgets shared by the dialogs (GUI thread)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLineEdit, QPushButton, QStatusBar, QWidget


class ElidingStatusBar(QStatusBar):
    """A status bar whose messages end in "…" where they would run into its permanent widgets.

    The whole message stays in the tooltip. GUI thread.
    """

    def showMessage(self, message: str, timeout: int = 0) -> None:  # noqa: N802 (Qt's name)
        permanent = sum(w.sizeHint().width() for w in self.findChildren(QWidget) if w.parent() is self and w.isVisible()
                        and w is not self and not isinstance(w, QStatusBar))
        room = max(80, self.width() - permanent - 40)
        shown = self.fontMetrics().elidedText(message, Qt.TextElideMode.ElideRight, room)
        self.setToolTip(message if shown != message else "")
        super().showMessage(shown, timeout)


def folder_row(parent: QWidget, caption: str) -> tuple[QLineEdit, QPushButton, QWidget]:
    """A folder path field with a Browse… button; returns (field, button, row widget)."""
    edit = QLineEdit()
    browse = QPushButton("Browse…")

    def pick() -> None:
        folder = QFileDialog.getExistingDirectory(parent, caption, edit.text())
        if folder:
            edit.setText(folder)

    browse.clicked.connect(pick)
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(edit, 1)
    layout.addWidget(browse)
    return edit, browse, row
