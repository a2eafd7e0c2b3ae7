"""The About box's "Licences…" button, and the dialog it opens.

The dialog lists the files of ``resources/licenses`` (the overview THIRD_PARTY.md first,
then every licence text), the sample photo's attribution and, when a bundled model ships,
its model card; picking one shows it. Everything is read from the installed resources,
so the dialog shows what this build actually carries.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QSplitter,
    QTextBrowser,
    QVBoxLayout,
    QWidget,
)

from faceedit.core.resources import resources_dir

OVERVIEW = "THIRD_PARTY.md"


def licence_documents(resources: Path | None = None) -> list[tuple[str, Path]]:
    """(title, file) of every document the dialog offers, the overview first."""
    root = resources or resources_dir()
    licenses = root / "licenses"
    documents = [("Overview", licenses / OVERVIEW)]
    documents.append(("Sample photo: attribution", root / "sample" / "ATTRIBUTION.md"))
    documents += [(f"Model card: {card.parent.name}/{card.name}", card) for card in sorted((root / "models").glob("*.md"))]
    documents += [(text.stem, text) for text in sorted(licenses.glob("*.txt"), key=lambda p: p.name.lower())]
    return [(title, path) for title, path in documents if path.is_file()]


class LicencesDialog(QDialog):
    """A list of licence documents beside a viewer of the selected one."""

    def __init__(self, parent: QWidget | None = None, resources: Path | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Licences")
        self.resize(900, 600)
        self.documents = QListWidget()
        self.viewer = QTextBrowser()
        self.viewer.setOpenExternalLinks(True)
        for title, path in licence_documents(resources):
            item = QListWidgetItem(title)
            item.setData(Qt.ItemDataRole.UserRole, str(path))
            self.documents.addItem(item)
        self.documents.currentItemChanged.connect(self._show)
        splitter = QSplitter()
        splitter.addWidget(self.documents)
        splitter.addWidget(self.viewer)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([240, 660])
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(splitter)
        layout.addWidget(buttons)
        if self.documents.count():
            self.documents.setCurrentRow(0)
        else:
            self.viewer.setPlainText(f"No licence files found in {resources or resources_dir()}.")

    def _show(self, item: QListWidgetItem | None) -> None:
        if item is None:
            return
        path = Path(item.data(Qt.ItemDataRole.UserRole))
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as error:
            self.viewer.setPlainText(f"Cannot read {path}: {error}")
            return
        if path.suffix == ".md":
            self.viewer.setMarkdown(text)
        else:
            self.viewer.setPlainText(text)


def show_about(parent: QWidget, title: str, html: str) -> None:
    """An About box like ``QMessageBox.about``, with a "Licences…" button that opens the list."""
    box = QMessageBox(QMessageBox.Icon.NoIcon, title, html, QMessageBox.StandardButton.Close, parent)
    box.setTextFormat(Qt.TextFormat.RichText)
    icon = parent.windowIcon() if parent is not None else None
    if icon is not None and not icon.isNull():
        box.setIconPixmap(icon.pixmap(64, 64))
    licences = box.addButton("Licences…", QMessageBox.ButtonRole.ActionRole)
    box.exec()
    if box.clickedButton() is licences:
        LicencesDialog(parent).exec()
