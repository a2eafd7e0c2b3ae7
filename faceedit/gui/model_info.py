"""Model → Info: what the loaded model is, what it was trained on, the numbers that matter.

Everything sits in one scroll area so that the dialog fits a 1366×768 screen; the model
card (when a MODEL_CARD.md sits beside the model file) and every metric are sections
that open and close.
"""

from __future__ import annotations

import re
from html import escape

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QTextBlockFormat, QTextCursor, QTextDocument
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QFrame,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from faceedit.core.model_summary import ModelDetails

WIDTH, HEIGHT = 720, 640  # the dialog's size at most; less where the screen is smaller


def summary_html(details: ModelDetails) -> str:
    """The dialog's top part: the model, its training, its key numbers (HTML)."""

    def rows(pairs: list[tuple[str, str]]) -> str:
        return "".join(f"<tr><td style='padding-right:12px'><b>{escape(k)}</b></td><td>{v}</td></tr>"
                       for k, v in pairs)

    model = [
        ("Family", f"{escape(details.family)} <small>({escape(details.paper)})</small>"),
        ("Network", escape(details.network)),
        ("Size", f"{details.parameters:,} parameters, stored as {escape(details.storage)}"),
        ("Expressions", escape(", ".join(details.expressions))),
        ("File", escape(details.file_name)),
        ("Runs on", escape(details.runs_on)),
        ("Integrity", escape(details.integrity)),
    ]
    training = [("Data", escape(details.data)), ("Steps", f"{details.steps:,}"),
                ("Made", escape(f"{details.date}, commit {details.commit}"))]
    if details.notes:
        training.append(("Notes", escape(details.notes)))
    html = [f"<h3>Model</h3><table>{rows(model)}</table>",
            f"<h3>Trained on, and under which terms</h3><table>{rows(training)}</table>"]
    if details.key_metrics:
        numbers = [(m.label, f"{escape(m.value)} <small>— {escape(m.meaning)}</small>") for m in details.key_metrics]
        html.append(f"<h3>Measured on held-out faces</h3><table>{rows(numbers)}</table>")
    return "".join(html)


def metrics_text(details: ModelDetails) -> str:
    """Every metric of the file, one per line."""
    return "\n".join(f"{name} = {value:.4g}" for name, value in details.metrics) or "(none)"


class Section(QWidget):
    """A titled section that opens and closes by its title button."""

    def __init__(self, title: str, body: QWidget, expanded: bool, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.toggle = QToolButton(text=title, checkable=True, checked=expanded)
        self.toggle.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.toggle.setAutoRaise(True)
        self.body = body
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.toggle)
        layout.addWidget(body)
        self.toggle.toggled.connect(self._show)
        self._show(expanded)

    def _show(self, expanded: bool) -> None:
        self.toggle.setArrowType(Qt.ArrowType.DownArrow if expanded else Qt.ArrowType.RightArrow)
        self.body.setVisible(expanded)


def markdown_html(text: str) -> str:
    """Markdown as HTML whose code blocks wrap too (a long command line must not widen the dialog).

    Images become their alt text: their relative paths lead nowhere from an installed model.
    """
    document = QTextDocument()
    document.setMarkdown(re.sub(r"!\[([^\]]*)\]\([^)]*\)", lambda m: f"*(image: {m.group(1)})*" if m.group(1) else "", text))
    wrapping = QTextBlockFormat()
    wrapping.setNonBreakableLines(False)
    cursor = QTextCursor(document)
    cursor.select(QTextCursor.SelectionType.Document)
    cursor.mergeBlockFormat(wrapping)
    return document.toHtml()


def _label(text: str, text_format: Qt.TextFormat) -> QLabel:
    label = QLabel(text)
    label.setTextFormat(text_format)
    label.setWordWrap(True)
    # As wide as the scroll area, never wider: the text wraps instead of running off the right.
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
    label.setMinimumWidth(200)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
    label.setOpenExternalLinks(True)
    label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
    return label


class ModelInfoDialog(QDialog):
    """The loaded model, readable: summary, training and terms, key numbers, model card, all metrics."""

    def __init__(self, details: ModelDetails, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Model: {details.file_name}")
        self.summary = _label(summary_html(details), Qt.TextFormat.RichText)
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.addWidget(self.summary)
        self.card: Section | None = None
        if details.model_card:
            self.card = Section("Model card", _label(markdown_html(details.model_card), Qt.TextFormat.RichText), expanded=True)
            layout.addWidget(self.card)
        metrics = _label(metrics_text(details), Qt.TextFormat.PlainText)
        metrics.setStyleSheet("font-family: monospace")
        self.metrics = Section(f"All metrics ({len(details.metrics)})", metrics, expanded=False)
        layout.addWidget(self.metrics)
        layout.addStretch(1)
        self.scroll = QScrollArea()
        self.scroll.setWidget(content)
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        buttons.rejected.connect(self.reject)
        outer = QVBoxLayout(self)
        outer.addWidget(self.scroll)
        outer.addWidget(buttons)
        self._fit_screen()

    def _fit_screen(self) -> None:
        """At most WIDTH×HEIGHT, and never more than 90 % of the screen's free area."""
        screen = (self.parentWidget().screen() if self.parentWidget() else None) or QGuiApplication.primaryScreen()
        width, height = WIDTH, HEIGHT
        if screen is not None:
            free = screen.availableGeometry()
            width, height = min(width, int(free.width() * 0.9)), min(height, int(free.height() * 0.9))
        self.resize(width, height)
