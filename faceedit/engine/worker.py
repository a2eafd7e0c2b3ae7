"""The inference worker: one long-lived QThread owns the model and does all torch work.

The GUI never touches torch. It calls the worker's request methods, which may be called
from any thread. Each request is carried out on the worker's thread, and the results
come back as signals.

Rendering keeps only the newest request. A new slider state replaces the pending one, so
fast dragging never queues up. Each result carries the stamp of its request, so the GUI
can drop stale ones. Every exception is caught and reported through ``failed`` as a
:class:`WorkerError`: the request it came from and the message to show.

``synchronous=True`` runs everything on the calling thread instead; tests use this mode.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from enum import Enum
from pathlib import Path

import numpy as np
from PySide6.QtCore import QObject, QThread, Signal, Slot

from faceedit.core.errors import FaceeditError
from faceedit.core.expressions import ExpressionTargets
from faceedit.core.imageio import Photo
from faceedit.core.model_summary import ModelDetails, model_details


class ErrorKind(Enum):
    """Which request failed."""

    MODEL = "model"  # loading a model file
    PHOTO = "photo"  # opening a photo or finding and encoding its faces
    REFERENCE = "reference"  # recognising a reference photo's expression (transfer)
    RENDER = "render"  # rendering the open photo
    PREVIEW = "preview"  # the small per-expression previews of the selected face
    LIVE = "live"  # editing a live video frame: the same error tends to repeat every frame


@dataclass(frozen=True)
class WorkerError:
    """A failed request, as ``failed`` reports it: its kind and the message for the user."""

    kind: ErrorKind
    message: str

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class ModelReady:
    path: str
    name: str
    device: str
    description: str  # one line
    details: ModelDetails  # what Model → Info shows


@dataclass(frozen=True, eq=False)
class PhotoReady:
    """A photo opened and its faces encoded (recognised intensities per face).

    ``photo`` is the decoded photo (EXIF, ICC profile and alpha, for saving);
    ``path`` is None for a photo pasted from the clipboard.
    """

    name: str
    path: Path | None
    photo: Photo
    boxes: tuple[tuple[int, int, int, int], ...]
    recognised: tuple[tuple[float, ...], ...]

    @property
    def pixels(self) -> np.ndarray:
        return self.photo.pixels


@dataclass(frozen=True)
class FaceReread:
    """One face of the open photo read again from a given starting expression (or the model's reading)."""

    face_index: int
    recognised: tuple[float, ...]  # where its sliders now start
    given: bool  # True: a person's correction (e.g. "this face is neutral"); False: what the model reads


@dataclass(frozen=True)
class ReferenceReady:
    """The expression recognised in each face of a reference photo (for transfer)."""

    name: str
    recognised: tuple[tuple[float, ...], ...]


@dataclass(frozen=True)
class RenderResult:
    stamp: int
    pixels: np.ndarray
    milliseconds: float


@dataclass(frozen=True, eq=False)
class PreviewsReady:
    """Six small previews of one face: the region around its box at each expression at 1.0.

    ``images`` follow EXPRESSIONS order; each is h×w×3 uint8 RGB, all the same size.
    """

    stamp: int
    face_index: int
    images: tuple[np.ndarray, ...]
    milliseconds: float


@dataclass(frozen=True)
class FrameRequest:
    """One video frame to edit live: its pixels, the tracked landmarks of each face, the sliders."""

    stamp: int
    pixels: np.ndarray  # H×W×3 uint8 RGB
    landmarks: tuple[np.ndarray, ...]  # 68×2 per face, in frame pixels
    targets: ExpressionTargets


@dataclass(frozen=True)
class FrameResult:
    stamp: int
    pixels: np.ndarray
    recognised: tuple[tuple[float, ...], ...]
    milliseconds: float


class EditWorker(QObject):
    """Owns the model, the face detector and the current photo's encoded faces."""

    model_ready = Signal(object)  # ModelReady
    photo_ready = Signal(object)  # PhotoReady
    reference_ready = Signal(object)  # ReferenceReady
    face_reread = Signal(object)  # FaceReread
    rendered = Signal(object)  # RenderResult
    previews_ready = Signal(object)  # PreviewsReady
    frame_rendered = Signal(object)  # FrameResult
    failed = Signal(object)  # WorkerError

    _load_model_requested = Signal(str, str, str)
    _open_photo_requested = Signal(str)
    _open_pixels_requested = Signal(str, object)
    _reference_requested = Signal(str)
    _start_from_requested = Signal(int, object)
    _render_requested = Signal()
    _previews_requested = Signal()
    _frame_requested = Signal()
    _live_requested = Signal(bool)

    def __init__(self, synchronous: bool = False) -> None:
        super().__init__()
        self._thread: QThread | None = None
        if not synchronous:
            self._thread = QThread()
            self._thread.setObjectName("faceedit-engine")
            self.moveToThread(self._thread)
            self._thread.start()
        # Queued when the worker has its own thread, direct when synchronous.
        self._load_model_requested.connect(self._load_model)
        self._open_photo_requested.connect(self._open_photo)
        self._open_pixels_requested.connect(self._open_pixels)
        self._reference_requested.connect(self._recognise_reference)
        self._start_from_requested.connect(self._start_from)
        self._render_requested.connect(self._render_pending)
        self._previews_requested.connect(self._render_pending_previews)
        self._frame_requested.connect(self._render_pending_frame)
        self._live_requested.connect(self._set_live)
        self._lock = threading.Lock()
        self._pending: tuple[int, ExpressionTargets | tuple[ExpressionTargets, ...]] | None = None
        self._pending_frame: FrameRequest | None = None
        self._pending_previews: tuple[int, int] | None = None  # (stamp, face index)
        self._live = None  # LiveEditor while a video is being edited
        self._threads_before = 0
        self._editor = None
        self._detector = None
        self._photo: PhotoReady | None = None
        self._encoded: list = []

    # --- requests: any thread -------------------------------------------------------

    def load_model(self, path: str, device: str = "auto", precision: str = "auto") -> None:
        """Load a model file on ``device`` ("auto", "cpu", "cuda") at ``precision`` ("auto", "fp32", "bf16")."""
        self._load_model_requested.emit(path, device, precision)

    def open_photo(self, path: str) -> None:
        self._open_photo_requested.emit(path)

    def open_pixels(self, name: str, pixels: np.ndarray) -> None:
        """Open an image that is already decoded (pasted, dropped as data): H×W×3 uint8 RGB."""
        self._open_pixels_requested.emit(name, pixels)

    def recognise_reference(self, path: str) -> None:
        """Recognise the expressions in another photo, for transfer; answers with ``reference_ready``."""
        self._reference_requested.emit(path)

    def start_from(self, face_index: int, starting: tuple[float, ...] | None) -> None:
        """Take face ``face_index`` of the open photo as showing ``starting`` (None: what the
        model recognises) from now on; answers with ``face_reread``. Renders requested after
        this use the new starting point."""
        self._start_from_requested.emit(face_index, starting)

    def request_render(self, stamp: int, targets: ExpressionTargets | tuple[ExpressionTargets, ...]) -> None:
        """Render the current photo with one slider state for all faces, or one per face.

        Replaces any request still waiting (only the newest is rendered)."""
        with self._lock:
            self._pending = (stamp, targets)
        self._render_requested.emit()

    def request_previews(self, stamp: int, face_index: int) -> None:
        """Six small previews of face ``face_index`` of the open photo, one per expression at 1.0.

        Any thread. Answers with ``previews_ready``; replaces any preview request still
        waiting (newest only), and a pending render goes first."""
        with self._lock:
            self._pending_previews = (stamp, face_index)
        self._previews_requested.emit()

    def request_frame(self, request: FrameRequest) -> None:
        """Edit one live video frame; replaces any frame still waiting (newest only)."""
        with self._lock:
            self._pending_frame = request
        self._frame_requested.emit()

    def set_live(self, on: bool) -> None:
        """A live video starts (True) or stops (False): tunes the worker for frame rate."""
        self._live_requested.emit(on)

    @property
    def has_model(self) -> bool:
        return self._editor is not None

    def stop(self) -> None:
        """End the worker thread (GUI thread, at exit)."""
        if self._thread is not None:
            self._thread.quit()
            self._thread.wait()

    # --- work: the worker's thread ----------------------------------------------------

    @Slot(str, str, str)
    def _load_model(self, path: str, device: str, precision: str) -> None:
        try:
            from faceedit.core.models.file import load_model
            from faceedit.core.device import describe_device, resolve_device
            from faceedit.core.editor import ExpressionEditor

            model = load_model(path, resolve_device(device), precision)
            self._editor = ExpressionEditor(model)
            self._encoded = []
            self._live = None
            info = model.info
            description = f"{info.describe()}, {info.parameters / 1e6:.1f} M parameters"
            where = f"{describe_device(model.device)}, {model.precision.name}"
            details = model_details(info, f"{describe_device(model.device)}, {model.precision.describe()}")
            self.model_ready.emit(ModelReady(path, info.name, where, description, details))
            if self._photo is not None:
                self._open(self._photo.name, self._photo.path, self._photo.photo)
        except FaceeditError as error:
            self.failed.emit(WorkerError(ErrorKind.MODEL, str(error)))
        except Exception as error:  # a bug, but the app must stay up and say so
            self.failed.emit(WorkerError(ErrorKind.MODEL, f"could not load the model: {type(error).__name__}: {error}"))

    @Slot(str)
    def _open_photo(self, path: str) -> None:
        try:
            from faceedit.core.imageio import load_photo

            photo = load_photo(path)
        except FaceeditError as error:
            self.failed.emit(WorkerError(ErrorKind.PHOTO, str(error)))
            return
        self._open(Path(path).name, Path(path), photo)

    @Slot(str, object)
    def _open_pixels(self, name: str, pixels: np.ndarray) -> None:
        image = np.ascontiguousarray(pixels, dtype=np.uint8)
        image.flags.writeable = False
        self._open(name, None, Photo(image, None, None, "PNG", 8, None, None))

    def _open(self, name: str, path: Path | None, photo: Photo) -> None:
        try:
            from faceedit.core.pipeline import select_faces

            self._photo = PhotoReady(name, path, photo, (), ())
            self._encoded = []
            chosen = select_faces(self._detect(photo.pixels), name)
            if self._editor is not None:
                self._encoded = [self._editor.encode(photo.pixels, face) for _, face in chosen]
            self._photo = PhotoReady(
                name, path, photo,
                tuple(face.box for _, face in chosen),
                tuple(tuple(float(v) for v in e.recognised) for e in self._encoded),
            )
            self.photo_ready.emit(self._photo)
        except FaceeditError as error:
            self.photo_ready.emit(self._photo)  # show the photo even without a usable face
            self.failed.emit(WorkerError(ErrorKind.PHOTO, str(error)))
        except Exception as error:
            self.failed.emit(WorkerError(ErrorKind.PHOTO, f"could not open {name}: {type(error).__name__}: {error}"))

    @Slot(int, object)
    def _start_from(self, index: int, starting: tuple[float, ...] | None) -> None:
        if self._editor is None or self._photo is None or not 0 <= index < len(self._encoded):
            return  # the photo changed meanwhile: nothing to re-read
        try:
            self._encoded[index] = self._editor.start_from(self._encoded[index], starting)
        except FaceeditError as error:
            self.failed.emit(WorkerError(ErrorKind.PHOTO, str(error)))
            return
        recognised = tuple(float(v) for v in self._encoded[index].recognised)
        faces = list(self._photo.recognised)
        faces[index] = recognised
        self._photo = replace(self._photo, recognised=tuple(faces))
        self.face_reread.emit(FaceReread(index, recognised, starting is not None))

    def _detect(self, pixels: np.ndarray) -> list:
        from faceedit.core.faces import face_detector

        if self._detector is None:
            self._detector = face_detector()
        return self._detector.detect(pixels)

    @Slot(str)
    def _recognise_reference(self, path: str) -> None:
        try:
            from faceedit.core.imageio import load_photo
            from faceedit.core.pipeline import select_faces

            if self._editor is None:
                raise FaceeditError("load a model first: expression transfer needs one")
            pixels = load_photo(path).pixels
            chosen = select_faces(self._detect(pixels), Path(path).name)
            recognised = tuple(tuple(float(v) for v in self._editor.recognise(pixels, face)) for _, face in chosen)
            self.reference_ready.emit(ReferenceReady(Path(path).name, recognised))
        except FaceeditError as error:
            self.failed.emit(WorkerError(ErrorKind.REFERENCE, str(error)))
        except Exception as error:
            self.failed.emit(WorkerError(ErrorKind.REFERENCE, f"could not read the reference {path}: {type(error).__name__}: {error}"))

    @Slot()
    def _render_pending(self) -> None:
        with self._lock:
            request, self._pending = self._pending, None
        if request is None or self._photo is None:
            return  # already served by a later request, or nothing to render
        stamp, targets = request
        try:
            start = time.perf_counter()
            if self._editor is None or not self._encoded:
                pixels = self._photo.pixels
            else:
                pixels = self._editor.render(self._photo.pixels, self._encoded, targets)
            self.rendered.emit(RenderResult(stamp, pixels, (time.perf_counter() - start) * 1000.0))
        except Exception as error:
            self.failed.emit(WorkerError(ErrorKind.RENDER, f"render failed: {type(error).__name__}: {error}"))

    @Slot()
    def _render_pending_previews(self) -> None:
        """Worker thread: the newest preview request, one expression at a time.

        Before each preview a waiting render is served first (a slider drag never waits
        for more than one small preview), and a newer preview request ends this one.
        """
        with self._lock:
            request, self._pending_previews = self._pending_previews, None
        if request is None:
            return
        stamp, index = request
        if self._editor is None or self._photo is None or not 0 <= index < len(self._encoded):
            return  # no model, or the photo changed: its photo_ready brings a new request
        try:
            from faceedit.core.previews import PreviewRegion, preview_targets, render_preview

            start = time.perf_counter()
            photo, encoded = self._photo, self._encoded[index]
            region = PreviewRegion.around(photo.boxes[index], photo.pixels.shape)
            images = []
            for targets in preview_targets():
                self._render_pending()
                with self._lock:
                    superseded = self._pending_previews is not None
                if superseded or self._photo is not photo:
                    return  # a newer request is queued behind this one
                images.append(render_preview(self._editor, photo.pixels, encoded, region, targets))
            self.previews_ready.emit(PreviewsReady(stamp, index, tuple(images), (time.perf_counter() - start) * 1000.0))
        except Exception as error:
            self.failed.emit(WorkerError(ErrorKind.PREVIEW, f"previews failed: {type(error).__name__}: {error}"))

    @Slot()
    def _render_pending_frame(self) -> None:
        with self._lock:
            request, self._pending_frame = self._pending_frame, None
        if request is None:
            return
        try:
            start = time.perf_counter()
            pixels, recognised = request.pixels, ()
            if self._editor is not None and request.landmarks:
                if self._live is None:
                    from faceedit.core.live import LiveEditor

                    self._live = LiveEditor(self._editor)
                pixels = self._live.edit(request.pixels, request.landmarks, request.targets, time.monotonic())
                recognised = self._live.recognised
            self.frame_rendered.emit(FrameResult(request.stamp, pixels, recognised, (time.perf_counter() - start) * 1000.0))
        except Exception as error:
            self.failed.emit(WorkerError(ErrorKind.LIVE, f"live edit failed: {type(error).__name__}: {error}"))

    @Slot(bool)
    def _set_live(self, on: bool) -> None:
        import torch

        # One torch thread while live: torch's own threads otherwise fight the capture
        # thread for the cores (measured 5–8× slower per frame on 2 cores).
        if on:
            self._threads_before = torch.get_num_threads()
            torch.set_num_threads(1)
        elif self._threads_before:
            torch.set_num_threads(self._threads_before)
        self._live = None
