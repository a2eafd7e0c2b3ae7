"""The main window: the photo, the expression sliders, files, comparison, transfer (GUI thread).

All model work happens on the engine's worker thread. The window sends it immutable
slider states (one per face) and shows the newest result it gets back.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
from PySide6.QtCore import QEvent, Qt
from PySide6.QtGui import QAction, QActionGroup, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from faceedit.core.errors import FaceeditError
from faceedit.core.expressions import NEUTRAL_START, ExpressionTargets, dominant_expression
from faceedit.core.imageio import SUPPORTED_SUFFIXES, save_photo
from faceedit.core.presets import Preset, list_presets, neutral_preset, save_preset
from faceedit.core.resources import default_model_path, sample_photo_path
from faceedit.engine.worker import (
    EditWorker, ErrorKind, FaceReread, ModelReady, PhotoReady, PreviewsReady, ReferenceReady, RenderResult, WorkerError,
)
from faceedit.gui.edit_state import EditState, States
from faceedit.gui.expression_panel import ExpressionPanel
from faceedit.gui.preview_strip import PreviewStrip
from faceedit.gui.photo_view import PhotoView, from_qimage, to_qimage
from faceedit.gui.settings import PRECISION_CHOICES, AppSettings
from faceedit.gui.widgets import ElidingStatusBar

PHOTO_FILTER = "Photos (" + " ".join(f"*{s}" for s in sorted(SUPPORTED_SUFFIXES)) + ")"
COMPARE_KEY = Qt.Key.Key_Backslash
ATTRIBUTION = (
    "Sample photo: Face Research Lab London Set — DeBruine, L. & Jones, B. (2017), figshare, "
    "doi:10.6084/m9.figshare.5047666.v5, licensed CC BY 4.0."
)


def apply_theme(theme: str) -> None:
    app = QApplication.instance()
    if app is None:
        return
    if theme == "dark":
        import qdarkstyle

        app.setStyleSheet(qdarkstyle.load_stylesheet(qt_api="pyside6"))
    else:
        app.setStyleSheet("")


class MainWindow(QMainWindow):
    def __init__(
        self,
        model: str | None = None,
        device: str | None = None,
        photo: str | None = None,
        synchronous: bool = False,
        settings: AppSettings | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings or AppSettings()
        self.setWindowTitle("faceedit")
        self.setAcceptDrops(True)
        self.worker = EditWorker(synchronous=synchronous)
        self.worker.model_ready.connect(self._on_model_ready)
        self.worker.photo_ready.connect(self._on_photo_ready)
        self.worker.rendered.connect(self._on_rendered)
        self.worker.previews_ready.connect(self._on_previews_ready)
        self.worker.failed.connect(self._on_failed)
        self.worker.reference_ready.connect(self._on_reference_ready)
        self.worker.face_reread.connect(self._on_face_reread)
        self.state = EditState(self._on_states_changed)
        self._stamp = 0
        self._preview_stamp = 0  # only the newest preview request's answer is shown
        self._shown_stamp = -1
        self._photo: PhotoReady | None = None
        self._taken_as_neutral: set[int] = set()  # faces the person said are neutral (the model read them otherwise)
        self._current: np.ndarray | None = None
        self._model: ModelReady | None = None
        self._device = device or self.settings.device
        self._precision = self.settings.precision
        self._retrain = None
        self._build_ui()
        self._build_webcam()
        self._build_menus()
        if self.settings.geometry is not None:
            self.restoreGeometry(self.settings.geometry)
        else:
            self.resize(1200, 760)
        self._start(model, photo)

    # --- layout ------------------------------------------------------------------------

    def _build_ui(self) -> None:
        self.view = PhotoView()
        self.view.face_clicked.connect(self._on_face_clicked)
        self.panel = ExpressionPanel()
        self.previews = PreviewStrip()  # one click sets that expression to 1.0, undoable like a slider
        self.previews.chosen.connect(lambda name: self._on_slider(name, 1.0, False))
        self.panel.value_changed.connect(self._on_slider)
        self.panel.released.connect(self.state.close_merge)
        self.panel.reset.connect(lambda name: self.state.set_value(self._target_faces(), name, None))
        self.face_label = QLabel("No photo")
        self.face_label.setWordWrap(True)
        self.edit_all = QCheckBox("Edit all faces together")
        self.edit_all.setToolTip("move every face in the photo with the sliders, not only the selected one")
        reset_all = QPushButton("Reset all")
        reset_all.setToolTip("every slider back to the face's own expression (Ctrl+R)")
        reset_all.clicked.connect(self.reset_all)
        neutral = QPushButton("Neutral")
        neutral.setToolTip("all six expressions to 0")
        neutral.clicked.connect(lambda: self.apply_preset(neutral_preset()))
        resets = QHBoxLayout()
        resets.addWidget(reset_all)
        resets.addWidget(neutral)
        self.compare_button = QPushButton("Hold to see the original  ( \\ )")
        self.compare_button.pressed.connect(lambda: self.view.show_original(True))
        self.compare_button.released.connect(lambda: self.view.show_original(False))
        panel = QWidget()
        layout = QVBoxLayout(panel)
        layout.addWidget(self.face_label)
        layout.addWidget(self.previews)
        layout.addWidget(self.panel)
        layout.addWidget(self.edit_all)
        layout.addLayout(resets)
        layout.addWidget(self.compare_button)
        layout.addStretch(1)
        panel.setMinimumWidth(360)
        splitter = QSplitter()
        splitter.addWidget(self.view)
        splitter.addWidget(panel)
        splitter.setStretchFactor(0, 3)
        splitter.setSizes([800, 380])
        self.setCentralWidget(splitter)
        self.setStatusBar(ElidingStatusBar())  # long errors end in "…" instead of running into the labels
        self.model_label, self.render_label = QLabel("no model"), QLabel("")
        self.statusBar().addPermanentWidget(self.render_label)
        self.statusBar().addPermanentWidget(self.model_label)

    def _build_webcam(self) -> None:
        from faceedit.gui.webcam import WebcamPanel

        # Live video uses the slider state of the selected face (or the live one when the
        # open photo has no face), edited on the same worker thread as photos.
        self._live_targets = ExpressionTargets()
        self.webcam = WebcamPanel(self.worker, self.live_targets)
        self.webcam.setWindowTitle("faceedit — webcam")
        self.webcam.resize(900, 700)
        self.webcam.message.connect(self.statusBar().showMessage)

    def live_targets(self) -> ExpressionTargets:
        """The slider state applied to webcam frames (any thread may call it: reads only)."""
        states = self.state.states
        return states[self.selected] if states and self.selected < len(states) else self._live_targets

    def open_webcam(self) -> None:
        self.webcam.show()
        self.webcam.raise_()
        if not self.state.states:  # no face in the photo: let the sliders drive the video
            self.panel.show_state((0.0,) * 6, self._live_targets)

    def _action(self, menu, text: str, slot, shortcut=None, checkable: bool = False) -> QAction:  # noqa: ANN001
        action = QAction(text, self)
        if shortcut is not None:
            action.setShortcut(shortcut)
        action.setCheckable(checkable)
        action.triggered.connect(slot)
        menu.addAction(action)
        return action

    def _build_menus(self) -> None:
        bar = self.menuBar()
        file_menu = bar.addMenu("&File")
        self._action(file_menu, "&Open…", self.open_dialog, QKeySequence.StandardKey.Open)
        self.recent_menu = file_menu.addMenu("Open &Recent")
        self._action(file_menu, "&Paste Photo", self.paste_photo, QKeySequence.StandardKey.Paste)
        self._action(file_menu, "&Webcam…", self.open_webcam, "Ctrl+W")
        self._action(file_menu, "Open &Video…", lambda: self.open_video(), "Ctrl+Shift+O")
        self._action(file_menu, "&Batch Export…", self.batch_export, "Ctrl+E")
        file_menu.addSeparator()
        self._action(file_menu, "&Save As…", self.save_dialog, QKeySequence.StandardKey.SaveAs)
        self._action(file_menu, "&Copy Edited Photo", self.copy_photo, QKeySequence.StandardKey.Copy)
        self._action(file_menu, "JPEG/WebP &Quality…", self.choose_quality)
        file_menu.addSeparator()
        self._action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit)
        self._fill_recent()

        edit_menu = bar.addMenu("&Edit")
        undo = self.state.undo_stack.createUndoAction(self, "&Undo")
        undo.setShortcut(QKeySequence.StandardKey.Undo)
        redo = self.state.undo_stack.createRedoAction(self, "&Redo")
        redo.setShortcut(QKeySequence.StandardKey.Redo)
        edit_menu.addActions([undo, redo])
        self._action(edit_menu, "Reset &All", self.reset_all, "Ctrl+R")
        self.neutral_action = self._action(edit_menu, "Face Is &Neutral", self.take_as_neutral, "Ctrl+Shift+N", checkable=True)
        self.neutral_action.setToolTip("The model misreads this face's expression: start its sliders from neutral")
        self._action(edit_menu, "&Transfer Expression From…", self.transfer_dialog, "Ctrl+T")
        self.presets_menu = bar.addMenu("&Presets")
        self.presets_menu.aboutToShow.connect(self._fill_presets)
        self._fill_presets()

        view_menu = bar.addMenu("&View")
        self._action(view_menu, "&Fit to Window", self.view.fit, "Ctrl+0")
        self._action(view_menu, "&Actual Size", self.view.actual_size, "Ctrl+1")
        self._action(view_menu, "Zoom &In", lambda: self.view.zoom(1.25), QKeySequence.StandardKey.ZoomIn)
        self._action(view_menu, "Zoom &Out", lambda: self.view.zoom(0.8), QKeySequence.StandardKey.ZoomOut)
        view_menu.addSeparator()
        self.split_action = self._action(view_menu, "&Before/After Split", self.toggle_split, "Ctrl+B", checkable=True)
        outlines = self._action(view_menu, "Face &Outlines", self.view.set_outlines_visible, checkable=True)
        outlines.setChecked(True)
        view_menu.addSeparator()
        themes = QActionGroup(self)
        for theme in ("dark", "light"):
            action = self._action(view_menu, f"{theme.capitalize()} Theme", lambda _=False, t=theme: self.set_theme(t), checkable=True)
            action.setChecked(self.settings.theme == theme)
            themes.addAction(action)

        self.model_menu = bar.addMenu("&Model")
        self._action(self.model_menu, "Open &Model…", self.open_model_dialog)
        self._action(self.model_menu, "Model &Info", self.model_info)
        self._action(self.model_menu, "&Retrain…", self.retrain)
        devices = QActionGroup(self)
        device_menu = self.model_menu.addMenu("&Device")
        for device in ("auto", "cpu", "cuda"):
            action = self._action(device_menu, device, lambda _=False, d=device: self.set_device(d), checkable=True)
            action.setChecked(self._device == device)
            devices.addAction(action)
        precisions = QActionGroup(self)
        precision_menu = self.model_menu.addMenu("&Precision")
        for precision, text in PRECISION_CHOICES:
            action = self._action(precision_menu, text, lambda _=False, p=precision: self.set_precision(p), checkable=True)
            action.setChecked(self._precision == precision)
            precisions.addAction(action)
        self.tools_menu = bar.addMenu("&Tools")
        self._action(self.tools_menu, "Find Similar &Expressions…", self.find_similar, "Ctrl+F")
        help_menu = bar.addMenu("&Help")
        self._action(help_menu, "&About faceedit", self.about)

    def _start(self, model: str | None, photo: str | None) -> None:
        try:
            chosen = model or (self.settings.model if self.settings.model and Path(self.settings.model).exists() else None)
            self.worker.load_model(str(default_model_path(chosen)), self._device, self._precision)
        except FaceeditError as error:
            self.statusBar().showMessage(f"{error} (Model → Open Model…)")
        start = photo or (str(sample_photo_path()) if sample_photo_path().exists() else None)
        if start:
            self.open_photo(start)

    # --- files -------------------------------------------------------------------------

    def open_photo(self, path: str) -> None:
        if not self._may_discard_edits():
            return
        self.statusBar().showMessage(f"Opening {path}…")
        self.worker.open_photo(path)

    def open_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open photo", self.settings.folder("open"), PHOTO_FILTER)
        if path:
            self.settings.set_folder("open", str(Path(path).parent))
            self.open_photo(path)

    def paste_photo(self) -> None:
        image = QGuiApplication.clipboard().image()
        if image.isNull():
            self.statusBar().showMessage("The clipboard holds no image")
            return
        if not self._may_discard_edits():
            return
        self.worker.open_pixels("pasted image", from_qimage(image))

    def _fill_recent(self) -> None:
        self.recent_menu.clear()
        for path in self.settings.recent:
            self._action(self.recent_menu, path, lambda _=False, p=path: self.open_photo(p))
        self.recent_menu.setEnabled(bool(self.settings.recent))

    def save_dialog(self) -> bool:
        """Ask where to save the edit and save it; True when it was saved."""
        if self._current is None or self._photo is None:
            return False
        stem = Path(self._photo.name).stem
        suggestion = str(Path(self.settings.folder("save") or Path.home()) / f"{stem}-edited.jpg")
        path, _ = QFileDialog.getSaveFileName(self, "Save edited photo", suggestion, PHOTO_FILTER)
        return bool(path) and self.save_to(path)

    def ask_about_unsaved_edits(self) -> str:
        """"save", "discard" or "cancel": the photo editor's question before edits would be lost (modal)."""
        buttons = QMessageBox.StandardButton
        box = QMessageBox(QMessageBox.Icon.Question, "Unsaved edits",
                          "The edited photo has not been saved. Save it before you go on?",
                          buttons.Save | buttons.Discard | buttons.Cancel, self)
        box.setDefaultButton(buttons.Save)
        answer = box.exec()
        return {buttons.Save: "save", buttons.Discard: "discard"}.get(buttons(answer), "cancel")

    def _may_discard_edits(self) -> bool:
        """True when nothing unsaved would be lost, or the user said so (saving first if asked)."""
        if not self.state.has_unsaved_edits:
            return True
        answer = self.ask_about_unsaved_edits()
        if answer == "save":
            return self.save_dialog()
        return answer == "discard"

    def save_to(self, path: str, confirm_original: bool = True) -> bool:
        """Save the edit at full resolution. The original is replaced only after a confirmation."""
        if self._current is None or self._photo is None:
            return False
        if self._photo.path is not None and Path(path).resolve() == self._photo.path.resolve() and confirm_original:
            answer = QMessageBox.question(
                self, "Replace the original?", f"{Path(path).name} is the original photo. Replace it with the edit?",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No,
            )
            if answer != QMessageBox.StandardButton.Yes:
                return False
        try:
            photo = self._photo.photo
            # The file dialog has already asked about replacing an existing file.
            save_photo(path, self._current, alpha=photo.alpha, quality=self.settings.quality, overwrite=True,
                       exif=photo.exif, icc_profile=photo.icc_profile)
        except FaceeditError as error:
            QMessageBox.warning(self, "faceedit", str(error))
            return False
        self.settings.set_folder("save", str(Path(path).parent))
        self.state.mark_saved()
        self.statusBar().showMessage(f"Saved {path}")
        return True

    def copy_photo(self) -> None:
        if self._current is not None:
            QGuiApplication.clipboard().setImage(to_qimage(self._current))
            self.statusBar().showMessage("Edited photo copied")

    def choose_quality(self) -> None:
        value, ok = QInputDialog.getInt(self, "Quality", "JPEG/WebP quality (1–100):", self.settings.quality, 1, 100)
        if ok:
            self.settings.quality = value

    def dragEnterEvent(self, event) -> None:  # noqa: ANN001, N802 (Qt's name)
        if event.mimeData().hasUrls() or event.mimeData().hasImage():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: ANN001, N802
        data = event.mimeData()
        files = [url.toLocalFile() for url in data.urls() if url.isLocalFile()]
        if files:
            self.open_photo(files[0])
        elif data.hasImage():
            self.worker.open_pixels("dropped image", from_qimage(data.imageData()))

    # --- model -------------------------------------------------------------------------

    def open_model_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open model", self.settings.folder("model"), "faceedit models (*.pt)")
        if path:
            self.settings.set_folder("model", str(Path(path).parent))
            self.load_model(path)

    def load_model(self, path: str) -> None:
        self.statusBar().showMessage(f"Loading {path}…")
        self.worker.load_model(path, self._device, self._precision)

    def open_video(self, path: str | None = None) -> None:
        """A video file in its own window: timeline, keyframes from the sliders, export (its runner has its own model copy)."""
        from faceedit.gui.video_window import VideoWindow
        from faceedit.gui.webcam import VIDEO_FILTER

        if self._model is None:
            QMessageBox.warning(self, "faceedit", "Load a model first (Model → Open Model…)")
            return
        if path is None:
            path, _ = QFileDialog.getOpenFileName(self, "Open video", self.settings.folder("video"), VIDEO_FILTER)
            if not path:
                return
            self.settings.set_folder("video", str(Path(path).parent))
        window = VideoWindow(self, self._model.path, self._device, self._precision)
        window.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        self.video_window = window
        window.show()
        window.open_path(path)

    def batch_export(self) -> None:
        """A folder, edited off the GUI thread (the dialog's runner has its own model copy)."""
        from faceedit.gui.batch_dialog import BatchDialog

        if self._model is None:
            QMessageBox.warning(self, "faceedit", "Load a model first (Model → Open Model…)")
            return
        state = self.live_targets()
        BatchDialog(self, self._model.path, self._device, state, self._precision).exec()

    def find_similar(self) -> None:
        """Faces of a folder ranked by expression against the selected face (modeless; its runner has its own model copy)."""
        from faceedit.gui.search_dialog import SearchDialog

        if self._model is None:
            QMessageBox.warning(self, "faceedit", "Load a model first (Model → Open Model…)")
            return
        photo = self._photo
        if photo is None or not photo.recognised or self.selected >= len(photo.recognised):
            QMessageBox.information(self, "faceedit", "Open a photo with a face first: its selected face is what is searched for.")
            return
        folder = self.settings.folder("search") or (str(photo.path.parent) if photo.path else "")
        dialog = SearchDialog(self, self._model.path, self._device, self._precision, tuple(photo.recognised[self.selected]),
                              photo.pixels, photo.boxes[self.selected], photo.name, photo.path, self.selected, folder,
                              open_photo=self.open_photo)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.folder_edit.textChanged.connect(lambda text: self.settings.set_folder("search", text) if Path(text).is_dir() else None)
        self.search_dialog = dialog
        dialog.show()

    def retrain(self) -> None:
        """The retrain dialog: modeless, so editing goes on while a model trains."""
        from faceedit.gui.retrain_dialog import RetrainDialog

        if self._retrain is None:
            self._retrain = RetrainDialog(self, precision=self._precision)
            self._retrain.model_ready.connect(self.load_model)
        self._retrain.show()
        self._retrain.raise_()

    def set_device(self, device: str) -> None:
        self._device = self.settings.device = device
        if self._model is not None:
            self.load_model(self._model.path)

    def set_precision(self, precision: str) -> None:
        self._precision = self.settings.precision = precision
        if self._model is not None:
            self.load_model(self._model.path)

    def model_info(self) -> None:
        """Model → Info: a readable dialog about the loaded model (scrolls; fits 1366×768)."""
        from faceedit.gui.model_info import ModelInfoDialog

        if self._model is None:
            QMessageBox.information(self, "Model", "No model is loaded. Use Model → Open Model…")
            return
        if getattr(self, "_info_dialog", None) is not None:
            self._info_dialog.close()
        self._info_dialog = ModelInfoDialog(self._model.details, self)
        self._info_dialog.show()
        self._info_dialog.raise_()

    def set_theme(self, theme: str) -> None:
        self.settings.theme = theme
        apply_theme(theme)

    def about(self) -> None:
        from faceedit import __version__
        from faceedit.gui.licences import show_about  # a "Licences…" button (issue 7)

        show_about(
            self, "About faceedit",
            f"<b>faceedit {__version__}</b><p>Facial-expression editing with ExprGAN (Ding, Sricharan & Chellappa, "
            f"AAAI 2018).</p><p>{ATTRIBUTION}</p><p>Face detection and landmarks: dlib and its model files.</p>",
        )

    # --- editing -----------------------------------------------------------------------

    @property
    def selected(self) -> int:
        return self.view.selected

    def _target_faces(self) -> list[int]:
        count = len(self.state.states)
        return list(range(count)) if self.edit_all.isChecked() else [self.selected] if count else []

    def _on_slider(self, name: str, value: float, dragging: bool) -> None:
        if not self.state.states:  # webcam only, no face in a photo
            self._live_targets = self._live_targets.with_value(name, value)
            return
        self.state.set_value(self._target_faces(), name, value, dragging=dragging)

    def reset_all(self) -> None:
        self.state.change((ExpressionTargets(),) * len(self.state.states), "reset all")

    def take_as_neutral(self, on: bool) -> None:
        """The selected face (or every face) is neutral, whatever the model read (``on``), or back to the model's reading.

        For a face the recogniser misreads (a neutral face read as 0.9 happy leaves the
        happiness slider almost nothing to add): its sliders then start at zero and move
        from there. The slider targets already set are kept and re-rendered from the new start.
        One undo step.
        """
        photo = self._photo
        if photo is None or not photo.recognised:
            self.neutral_action.setChecked(False)
            self.statusBar().showMessage("Open a photo with a face first")
            return
        faces = [i for i in self._target_faces() if on != (i in self._taken_as_neutral)]
        if not faces:
            return

        def start(neutral: bool) -> None:
            for index in faces:
                self.worker.start_from(index, NEUTRAL_START if neutral else None)

        # One undo step: Ctrl+Z gives the face back its reading by the model (or takes it as neutral again).
        self.state.push_step("face is neutral" if on else "face as recognised", lambda: start(on), lambda: start(not on))

    # --- presets -------------------------------------------------------------------------

    def apply_preset(self, preset: Preset) -> None:
        """Give the selected face (or every face) the preset's slider state, as one undo step."""
        if not self.state.states:
            self.statusBar().showMessage("Open a photo with a face first")
            return
        faces = self._target_faces()
        after = tuple(preset.targets if i in faces else s for i, s in enumerate(self.state.states))
        self.state.change(after, f"preset {preset.name}")
        self.statusBar().showMessage(f"Preset {preset.name}: {preset.describe()}")

    def save_preset_dialog(self) -> None:
        """Save the selected face's slider state as a named preset in the user's presets folder."""
        if not self.state.states or self.selected >= len(self.state.states):
            self.statusBar().showMessage("Open a photo with a face first")
            return
        name, ok = QInputDialog.getText(self, "Save preset", "Name of the preset:")
        if not ok or not name.strip():
            return
        try:
            path = save_preset(name.strip(), self.state.states[self.selected])
        except FaceeditError as error:
            QMessageBox.warning(self, "faceedit", str(error))
            return
        self.statusBar().showMessage(f"Saved preset {name.strip()} to {path}")

    def _fill_presets(self) -> None:
        self.presets_menu.clear()
        presets, problems = list_presets()
        for preset in presets:
            action = self._action(self.presets_menu, preset.name, lambda _=False, p=preset: self.apply_preset(p))
            action.setToolTip(preset.describe())
        self.presets_menu.setToolTipsVisible(True)
        self.presets_menu.addSeparator()
        self._action(self.presets_menu, "&Save Current as Preset…", self.save_preset_dialog)
        if problems:
            self.statusBar().showMessage(problems[0])

    def toggle_split(self, on: bool) -> None:
        self.view.set_split(0.5 if on else None)

    def transfer_dialog(self) -> None:
        if not self.state.states:
            self.statusBar().showMessage("Open a photo with a face first")
            return
        path, _ = QFileDialog.getOpenFileName(self, "Transfer the expression of…", self.settings.folder("open"), PHOTO_FILTER)
        if path:
            self.statusBar().showMessage(f"Reading the expression in {Path(path).name}…")
            self.worker.recognise_reference(path)

    def _on_reference_ready(self, reference: ReferenceReady) -> None:
        index = 0
        if len(reference.recognised) > 1:
            labels = [f"face {i}: {dominant_expression(r)[0]}" for i, r in enumerate(reference.recognised)]
            choice, ok = QInputDialog.getItem(self, "Reference face", "Which face's expression?", labels, 0, False)
            if not ok:
                return
            index = labels.index(choice)
        target = ExpressionTargets.exactly(reference.recognised[index])
        faces = self._target_faces()
        after = tuple(target if i in faces else s for i, s in enumerate(self.state.states))
        name, strength = dominant_expression(reference.recognised[index])
        self.state.change(after, f"transfer from {reference.name}")
        self.statusBar().showMessage(f"Applied the expression of {reference.name} ({name} {strength:.2f})")

    def _on_states_changed(self, states: States) -> None:
        self._show_selected()
        if states:
            self._stamp += 1
            self.worker.request_render(self._stamp, states)

    def _show_selected(self) -> None:
        photo, states = self._photo, self.state.states
        self.neutral_action.setChecked(self.selected in self._taken_as_neutral)  # not triggered: no re-read
        if photo is None or not photo.recognised or self.selected >= len(states):
            self.panel.show_state(None, ExpressionTargets())
            return
        recognised = photo.recognised[self.selected]
        self.panel.show_state(recognised, states[self.selected])
        name, strength = dominant_expression(recognised)
        reading = "taken as neutral (Edit → Face Is Neutral)" if self.selected in self._taken_as_neutral else f"recognised {name} ({strength:.2f})"
        self.face_label.setText(
            f"<b>{photo.name}</b><br>Face {self.selected + 1} of {len(photo.recognised)} — "
            f"{reading}. Click a face to select it."
        )

    def _on_face_clicked(self, index: int) -> None:
        self._show_selected()
        self._request_previews()

    def _request_previews(self) -> None:
        """New previews of the selected face (after any render already requested, so it goes first)."""
        self._preview_stamp += 1
        self.previews.clear()
        photo = self._photo
        if photo is not None and self.selected < len(photo.recognised):
            self.worker.request_previews(self._preview_stamp, self.selected)

    def _on_previews_ready(self, previews: PreviewsReady) -> None:
        if previews.stamp == self._preview_stamp:  # older requests' answers are dropped
            self.previews.show_previews(previews.images)

    # --- worker results ----------------------------------------------------------------

    def _on_face_reread(self, reread: FaceReread) -> None:
        photo = self._photo
        if photo is None or reread.face_index >= len(photo.recognised):
            return
        faces = list(photo.recognised)
        faces[reread.face_index] = reread.recognised
        self._photo = replace(photo, recognised=tuple(faces))
        (self._taken_as_neutral.add if reread.given else self._taken_as_neutral.discard)(reread.face_index)
        self._on_states_changed(self.state.states)  # re-render from the new start, and show it
        if reread.face_index == self.selected:
            self._request_previews()

    def _on_model_ready(self, ready: ModelReady) -> None:
        self._model = ready
        self.settings.model = ready.path
        self.model_label.setText(f"{ready.name} · {ready.device}")
        self.model_label.setToolTip(ready.description)
        self.statusBar().showMessage(f"Model {ready.name} loaded on {ready.device}")

    def _on_photo_ready(self, photo: PhotoReady) -> None:
        self._photo = photo
        self._taken_as_neutral = set()
        self._current = photo.pixels
        self._shown_stamp = self._stamp
        self.view.set_photo(photo.pixels, photo.boxes)
        self.setWindowTitle(f"faceedit — {photo.name}")
        if photo.path is not None:
            self.settings.add_recent(str(photo.path))
            self._fill_recent()
        self.state.reset_photo(len(photo.recognised))
        self._request_previews()  # a new photo or model: after the first render
        faces = len(photo.recognised)
        if self._model is None:
            self.face_label.setText(
                f"<b>{photo.name}</b><br>No model is loaded, so the sliders are off. Open one with "
                "Model → Open Model…, or train one with Model → Retrain…"
            )
        elif not faces:
            self.face_label.setText(f"<b>{photo.name}</b><br>No face to edit.")
        if self._model is None:
            status = f"{photo.name}: {len(photo.boxes)} face(s) found; load a model to edit them"
        else:
            status = f"{photo.name}: {faces} face(s) ready to edit" if faces else f"{photo.name}: no face to edit"
        self.statusBar().showMessage(status)

    def _on_rendered(self, result: RenderResult) -> None:
        if result.stamp < self._shown_stamp:
            return  # an older request finished after a newer one: drop it
        self._shown_stamp = result.stamp
        self._current = result.pixels
        self.view.set_edited(result.pixels)
        self.render_label.setText(f"render {result.milliseconds:.0f} ms")

    def _on_failed(self, error: WorkerError) -> None:
        self.statusBar().showMessage(error.message)
        if error.kind is ErrorKind.PREVIEW:
            return  # the previews are an aid: the status bar says it, no message box
        if error.kind is ErrorKind.LIVE:
            if error.message == getattr(self, "_last_live_error", None):
                return  # one message box, not one per video frame
            self._last_live_error = error.message
        QMessageBox.warning(self, "faceedit", error.message)

    # --- keys and closing -------------------------------------------------------------------

    def keyPressEvent(self, event) -> None:  # noqa: ANN001, N802
        if event.key() == COMPARE_KEY and not event.isAutoRepeat():
            self.view.show_original(True)
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event) -> None:  # noqa: ANN001, N802
        if event.key() == COMPARE_KEY and not event.isAutoRepeat():
            self.view.show_original(False)
            return
        super().keyReleaseEvent(event)

    def event(self, event: QEvent) -> bool:
        # Losing focus while the compare key is held must not leave the original showing.
        if event.type() == QEvent.Type.WindowDeactivate:
            self.view.show_original(False)
        return super().event(event)

    def closeEvent(self, event) -> None:  # noqa: ANN001, N802
        if not self._may_discard_edits():
            event.ignore()
            return
        self.settings.geometry = self.saveGeometry()
        self.webcam.shutdown()
        self.webcam.close()
        from faceedit.gui.video_window import VideoWindow

        for video in self.findChildren(VideoWindow):  # each ends its runner's thread (an export is cancelled)
            video.close()
        if self._retrain is not None:
            self._retrain.close()
        self.worker.stop()
        super().closeEvent(event)

