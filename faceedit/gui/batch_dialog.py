"""File → Batch export: edit every photo of a folder (GUI thread).

The work is ``faceedit.core.batch.run_batch`` — the code behind ``faceedit batch`` — run by
the engine's :class:`~faceedit.engine.batch_runner.BatchRunner` on its own thread with its
own copy of the model, so the main window stays responsive while a batch runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt, QUrl
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from faceedit.core.expressions import EXPRESSIONS, ExpressionTargets
from faceedit.core.presets import list_presets
from faceedit.engine.batch_runner import BatchRequest, BatchRunner, summary_text
from faceedit.gui.widgets import folder_row

if TYPE_CHECKING:
    from faceedit.core.batch import BatchSummary

DEFAULT_LEVELS_TEXT = "0.25,0.5,0.75,1.0"
FORMATS: tuple[tuple[str, str | None], ...] = (
    ("Keep each photo's format", None),
    ("JPEG (.jpg)", ".jpg"),
    ("PNG (.png)", ".png"),
    ("WebP (.webp)", ".webp"),
)


def format_duration(seconds: float) -> str:
    """mm:ss, or h:mm:ss from an hour on."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def parse_levels(text: str) -> tuple[float, ...]:
    """"0.25, 0.5" → (0.25, 0.5); ValueError with a readable message otherwise."""
    parts = [p for p in text.replace(" ", "").split(",") if p]
    if not parts:
        raise ValueError("give at least one level, e.g. 0.5,1.0")
    levels = []
    for part in parts:
        try:
            value = float(part)
        except ValueError:
            raise ValueError(f"{part!r} is not a number") from None
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"level {part} is outside [0, 1]")
        levels.append(value)
    return tuple(dict.fromkeys(levels))  # in the order given, without repeats


def describe_targets(targets: ExpressionTargets) -> str:
    """"happiness 0.80, surprise 0.30; the others as recognised" for the mode's label."""
    set_values = [f"{name} {value:.2f}" for name, value in zip(EXPRESSIONS, targets.values) if value is not None]
    if not set_values:
        return "no slider moved: every photo would be written unchanged"
    rest = "; the others as recognised in each face" if len(set_values) < len(EXPRESSIONS) else ""
    return ", ".join(set_values) + rest


class BatchDialog(QDialog):
    """Folders, mode, format; Start/Cancel; progress with ETA; the summary (GUI thread)."""

    def __init__(
        self, parent: QWidget | None, model_path: str, device: str, current_targets: ExpressionTargets,
        precision: str = "auto",
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Batch export — faceedit")
        self.setMinimumWidth(620)
        self._model_path = model_path
        self._device = device
        self._precision = precision
        self._targets = current_targets
        self._runner: BatchRunner | None = None  # made on the first Start (it loads the model)
        self._running = False
        self.last_summary: BatchSummary | None = None
        self._build_ui()
        self._set_running(False)

    # --- layout ------------------------------------------------------------------------

    def _build_ui(self) -> None:
        self._browse_buttons: list[QPushButton] = []
        self.input_edit, input_row = self._folder_row("Choose the folder of photos to edit")
        self.output_edit, output_row = self._folder_row("Choose the folder for the edited photos")
        self.input_edit.textChanged.connect(self._suggest_output)
        self.output_edit.textEdited.connect(lambda _: self.output_edit.setProperty("suggested", False))
        folders = QFormLayout()
        folders.addRow("Photos in:", input_row)
        folders.addRow("Edited photos to:", output_row)

        self.current_radio = QRadioButton("The current slider state")
        self.current_label = QLabel(describe_targets(self._targets))
        self.current_label.setWordWrap(True)
        self.current_label.setIndent(24)
        self.all_radio = QRadioButton("Every expression at each level (a labelled folder-per-expression dataset):")
        self.levels_edit = QLineEdit(DEFAULT_LEVELS_TEXT)
        self.levels_edit.setPlaceholderText("e.g. 0.5,1.0")
        self.levels_edit.setToolTip("Comma-separated intensities in [0, 1]; outputs go to OUT/<expression>/<name>_<level>")
        self.preset_radio = QRadioButton("A preset:")
        self.preset_combo = QComboBox()
        self._presets, _ = list_presets()  # unreadable preset files are left out (the Presets menu says why)
        for preset in self._presets:
            self.preset_combo.addItem(f"{preset.name} — {preset.describe()}", preset.name)
        self.preset_combo.currentIndexChanged.connect(lambda _: self.preset_radio.setChecked(True))
        self._mode = QButtonGroup(self)
        self._mode.addButton(self.current_radio)
        self._mode.addButton(self.preset_radio)
        self._mode.addButton(self.all_radio)
        (self.all_radio if self._targets.is_empty else self.current_radio).setChecked(True)
        self.all_radio.toggled.connect(lambda _: self._update_mode_fields())
        mode_box = QGroupBox("Edit")
        mode = QVBoxLayout(mode_box)
        mode.addWidget(self.current_radio)
        mode.addWidget(self.current_label)
        preset_row = QHBoxLayout()
        preset_row.addWidget(self.preset_radio)
        preset_row.addWidget(self.preset_combo, 1)
        mode.addLayout(preset_row)
        levels_row = QHBoxLayout()
        levels_row.addWidget(self.all_radio)
        levels_row.addWidget(self.levels_edit, 1)
        mode.addLayout(levels_row)

        self.format_combo = QComboBox()
        for text, suffix in FORMATS:
            self.format_combo.addItem(text, suffix)
        self.overwrite_check = QCheckBox("Replace existing outputs (otherwise they are kept, so a re-run resumes)")
        self.neutral_check = QCheckBox("The faces are neutral: count intensities from zero, whatever the model reads")
        self.neutral_check.setToolTip("For a folder of neutral portraits, e.g. to make labelled synthetic data "
                                      "(the same as Edit → Face Is Neutral for every face)")
        options = QFormLayout()
        options.addRow("Output format:", self.format_combo)
        options.addRow("", self.neutral_check)
        options.addRow("", self.overwrite_check)

        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("")
        self.progress_bar.setTextVisible(True)
        self.status_label = QLabel("")
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.summary_view = QPlainTextEdit()
        self.summary_view.setReadOnly(True)
        self.summary_view.setPlaceholderText("The summary appears here when the export ends.")
        self.summary_view.setMinimumHeight(110)

        self.start_button = QPushButton("Start")
        self.start_button.setDefault(True)
        self.start_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        self.open_button = QPushButton("Open output folder")
        self.open_button.clicked.connect(self.open_output_folder)
        self.open_button.setEnabled(False)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.close)
        buttons = QHBoxLayout()
        buttons.addWidget(self.open_button)
        buttons.addStretch(1)
        for button in (self.start_button, self.cancel_button, self.close_button):
            buttons.addWidget(button)

        layout = QVBoxLayout(self)
        layout.addLayout(folders)
        layout.addWidget(mode_box)
        layout.addLayout(options)
        layout.addWidget(self.progress_bar)
        layout.addWidget(self.status_label)
        layout.addWidget(self.summary_view, 1)
        layout.addLayout(buttons)

    def _folder_row(self, caption: str) -> tuple[QLineEdit, QWidget]:
        edit, browse, row = folder_row(self, caption)
        self._browse_buttons.append(browse)
        return edit, row

    def _suggest_output(self, text: str) -> None:
        # A sibling "<name>-faceedit" folder, until the user has typed an output of their own.
        if text and (not self.output_edit.text() or self.output_edit.property("suggested")):
            folder = Path(text.strip())
            if not folder.name:  # "/", "C:\\" or a path still being typed: nothing to suggest yet
                return
            self.output_edit.setText(str(folder.with_name(folder.name + "-faceedit")))
            self.output_edit.setProperty("suggested", True)

    # --- actions -----------------------------------------------------------------------

    def request(self) -> BatchRequest:
        """The form as a request; ValueError with a message for the user when it is incomplete."""
        input_text, output_text = self.input_edit.text().strip(), self.output_edit.text().strip()
        if not input_text:
            raise ValueError("choose the folder of photos to edit")
        if not Path(input_text).is_dir():
            raise ValueError(f"the photo folder {input_text} does not exist")
        if not output_text:
            raise ValueError("choose a folder for the edited photos")
        input_dir, output_dir = Path(input_text), Path(output_text)
        if input_dir.resolve() == output_dir.resolve():
            raise ValueError("the output folder must not be the photo folder (inputs are never replaced)")
        levels = None
        if self.all_radio.isChecked():
            try:
                levels = parse_levels(self.levels_edit.text())
            except ValueError as error:
                raise ValueError(f"levels: {error}") from None
        targets = self._targets
        if self.preset_radio.isChecked() and self._presets:
            targets = self._presets[self.preset_combo.currentIndex()].targets
        return BatchRequest(
            input_dir=input_dir,
            output_dir=output_dir,
            targets=targets,
            levels=levels,
            output_suffix=self.format_combo.currentData(),
            overwrite=self.overwrite_check.isChecked(),
            as_neutral=self.neutral_check.isChecked(),
        )

    def start(self) -> None:
        try:
            request = self.request()
        except ValueError as error:
            self._show_error(str(error))
            return
        if self._runner is None:
            self._runner = BatchRunner(self._model_path, self._device, precision=self._precision)
            self._runner.status.connect(self.status_label.setText)
            self._runner.progress.connect(self._on_progress)
            self._runner.finished.connect(self._on_finished)
            self._runner.failed.connect(self._on_failed)
        self.last_summary = None
        self.summary_view.clear()
        self.status_label.setStyleSheet("")
        self.status_label.setText("Starting…")
        self.progress_bar.setRange(0, 0)  # busy until the first photo is done
        self.progress_bar.setFormat("")
        self._set_running(True)
        self._runner.start(request)

    def cancel(self) -> None:
        if self._runner is not None and self._runner.running:
            self._runner.cancel()
            self.status_label.setText("Cancelling after the current photo…")
            self.cancel_button.setEnabled(False)

    def open_output_folder(self) -> None:
        folder = self.output_edit.text().strip()
        if folder and Path(folder).is_dir():
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(Path(folder).resolve())))

    # --- runner results ----------------------------------------------------------------

    def _on_progress(self, done: int, total: int, path: str, eta_seconds: float) -> None:
        self.progress_bar.setRange(0, max(total, 1))
        self.progress_bar.setValue(done)
        eta = f" — ETA {format_duration(eta_seconds)}" if done < total else ""
        self.progress_bar.setFormat(f"{done} / {total}{eta}")
        if self.cancel_button.isEnabled():  # keep "Cancelling…" visible once asked
            self.status_label.setText(f"{Path(path).name} — done")

    def _on_finished(self, summary: BatchSummary) -> None:
        self.last_summary = summary
        self._set_running(False)
        if summary.total == 0:
            self.progress_bar.setRange(0, 1)
            self.progress_bar.setValue(0)
            self.progress_bar.setFormat("no photos found")
        else:
            self.progress_bar.setRange(0, summary.total)
            self.progress_bar.setFormat(f"%v / {summary.total}" + (" — cancelled" if summary.cancelled else ""))
        self.status_label.setText("Cancelled." if summary.cancelled else "Done.")
        self.summary_view.setPlainText(summary_text(summary))
        self.open_button.setEnabled(Path(self.output_edit.text().strip()).is_dir())

    def _on_failed(self, message: str) -> None:
        self._set_running(False)
        self.progress_bar.setRange(0, 1)
        self.progress_bar.setValue(0)
        self.progress_bar.setFormat("")
        self._show_error(message)

    def _show_error(self, message: str) -> None:
        self.status_label.setStyleSheet("color: #e05050;")
        self.status_label.setText(message[:1].upper() + message[1:])

    def _set_running(self, running: bool) -> None:
        widgets = (self.input_edit, self.output_edit, self.current_radio, self.all_radio, self.format_combo, self.overwrite_check)
        for widget in (*widgets, *self._browse_buttons):
            widget.setEnabled(not running)
        self._running = running
        self._update_mode_fields()
        self.start_button.setEnabled(not running)
        self.cancel_button.setEnabled(running)

    def _update_mode_fields(self) -> None:
        # The mode's own field looks live only while its mode is chosen.
        self.levels_edit.setEnabled(not self._running and self.all_radio.isChecked())
        self.current_label.setEnabled(not self._running and self.current_radio.isChecked())

    # --- closing -----------------------------------------------------------------------

    def _shutdown(self) -> None:
        """Cancel a running batch and end the runner's thread (waits for the current photo)."""
        if self._runner is not None:
            self._runner.stop()
            self._runner = None

    def done(self, result: int) -> None:  # Close button, Esc, the window's close box
        self._shutdown()
        super().done(result)

    def closeEvent(self, event) -> None:  # noqa: ANN001, N802 (Qt's name)
        self._shutdown()
        super().closeEvent(event)
