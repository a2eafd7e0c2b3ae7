"""Find similar expressions off the GUI thread: the same index and ranking as ``faceedit search``.

Like the batch runner, the search runner loads its own copy of the model (and its own
face detector) on its own QThread, so editing stays live while a folder is indexed.
Requests (:meth:`SearchRunner.start`, :meth:`SearchRunner.cancel`) may come from any
thread; results come back as signals (queued to the GUI thread). Every exception is
caught and reported through ``failed``.

The query is the face the app has already read (its recognised intensities), so the
runner reads only the folder; the app and the runner load the same model file at the
same precision, so both read faces alike.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal, Slot

from faceedit.engine.job_runner import JobRunner

if TYPE_CHECKING:  # annotations only: the runner imports core's search on its own thread
    import numpy as np

    from faceedit.core.search import SearchHit


@dataclass(frozen=True)
class SearchRequest:
    """What the dialog asks for (plain values: the GUI builds one without torch)."""

    folder: Path
    query: tuple[float, ...]  # the query face's recognised intensities
    query_path: Path | None = None  # its photo, when it has one (left out of the results)
    query_face: int = 0
    top: int = 24  # 0 = every face
    use_cache: bool = True


@dataclass(frozen=True)
class SearchResult:
    """The ranked faces, a thumbnail per hit (RGB uint8), and what indexing did."""

    hits: list[SearchHit]
    thumbnails: list[np.ndarray]
    faces: int  # faces in the index
    photos: int  # readable photos in the folder
    read: int  # photos read now
    reused: int  # photos taken from the cached index
    unreadable: tuple[tuple[str, str], ...] = ()  # (path, reason)
    seconds: float = 0.0
    cancelled: bool = False
    search_ms: float = 0.0  # the ranking alone
    notes: tuple[str, ...] = field(default_factory=tuple)


class SearchRunner(JobRunner):
    """Indexes a folder and ranks its faces, one search at a time, on its own thread.

    ``cancel`` stops indexing after the photo being read now; the faces indexed so far are ranked.
    """

    status = Signal(str)  # a phase: "Loading the model…", "Finding photos…"
    progress = Signal(int, int, str)  # photos read, photos to read, path
    finished = Signal(object)  # SearchResult
    failed = Signal(str)

    def __init__(self, model_path: str, device: str = "auto", synchronous: bool = False, precision: str = "auto") -> None:
        super().__init__("faceedit-search", model_path, device, synchronous, precision)
        self._digest = ""

    # --- work: the runner's thread ----------------------------------------------------

    @Slot(object)
    def _run(self, request: SearchRequest) -> None:
        result, message = None, None
        try:
            from faceedit.core.errors import FaceeditError

            try:
                result = self._search(request)
            except FaceeditError as error:
                message = str(error)
        except Exception as error:  # a bug, but the app must stay up and say so
            message = f"search failed: {type(error).__name__}: {error}"
        self._busy.clear()
        if result is not None:
            self.finished.emit(result)
        else:
            self.failed.emit(message or "search failed")

    def _search(self, request: SearchRequest) -> SearchResult:
        import numpy as np

        from faceedit.core.search import update_index
        from faceedit.core.search_sheet import CELL, hit_thumbnails

        started = time.perf_counter()
        self._load()
        self.status.emit("Finding photos…")

        def progress(done: int, total: int, path: Path) -> None:
            self.progress.emit(done, total, str(path))

        update = update_index(request.folder, self._editor, self._detector, self._digest, use_cache=request.use_cache,
                              progress=progress, should_stop=self._cancel.is_set)
        index = update.index
        ranked = time.perf_counter()
        exclude = (request.query_path, request.query_face) if request.query_path is not None else None
        hits = index.search(np.asarray(request.query, np.float32), None if request.top == 0 else request.top, exclude=exclude)
        search_ms = (time.perf_counter() - ranked) * 1000
        thumbnails = [np.full((CELL, CELL, 3), 160, np.uint8) if t is None else t for t in hit_thumbnails(hits)]
        return SearchResult(
            hits, thumbnails, len(index), sum(1 for f in index.files if not f.error), update.read, update.reused,
            tuple((f.path, f.error) for f in index.unreadable), time.perf_counter() - started, update.cancelled, search_ms,
        )

    def _load(self) -> None:
        """The model, its digest and the detector, once per runner."""
        if self._editor is None:
            from faceedit.core.device import resolve_device
            from faceedit.core.editor import ExpressionEditor
            from faceedit.core.faces import face_detector
            from faceedit.core.models.file import load_model
            from faceedit.core.search import model_digest

            self.status.emit("Loading the model…")
            model = load_model(self._model_path, resolve_device(self._device), self._precision)
            self._editor = ExpressionEditor(model)
            self._digest = model_digest(self._model_path, model.precision.name)
            self._detector = face_detector()
