"""Small widgets shared by the dialogs (GUI thread)."""

from __future__ import annotations

from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QLineEdit, QPushButton, QWidget


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
