"""The lifecycle every one-job-at-a-time engine runner shares: its own thread, start, cancel, stop.

A runner (:class:`~faceedit.engine.batch_runner.BatchRunner`,
:class:`~faceedit.engine.search_runner.SearchRunner`) lives on its own QThread, loads its
own model copy on first use there, and runs one job at a time. Subclasses define the
``_start_requested`` signal's payload and implement ``_run(request)`` (a ``@Slot(object)``
on the runner's thread). QtCore only (the engine's rule).
"""

from __future__ import annotations

import threading

from PySide6.QtCore import QObject, QThread, Signal


class JobRunner(QObject):
    """One job at a time on the runner's own thread (or the caller's, ``synchronous``, in tests)."""

    _start_requested = Signal(object)  # the subclass's request

    def __init__(self, thread_name: str, model_path: str, device: str, synchronous: bool, precision: str) -> None:
        super().__init__()
        self._model_path = model_path
        self._device = device
        self._precision = precision
        self._cancel = threading.Event()
        self._busy = threading.Event()
        self._editor = None  # loaded on first use, on the runner's thread
        self._detector = None
        self._thread: QThread | None = None
        if not synchronous:
            self._thread = QThread()
            self._thread.setObjectName(thread_name)
            self.moveToThread(self._thread)
            self._thread.start()
        # Queued when the runner has its own thread, direct when synchronous (tests).
        self._start_requested.connect(self._run)

    def _run(self, request: object) -> None:  # pragma: no cover - every subclass overrides it
        raise NotImplementedError

    # --- requests: any thread ---------------------------------------------------------

    def start(self, request: object) -> None:
        """Start a job; ignored while one is running."""
        if self._busy.is_set():
            return
        # Set here rather than on the runner's thread, so a cancel that comes before the
        # run has begun is not lost, and a second start is refused at once.
        self._cancel.clear()
        self._busy.set()
        self._start_requested.emit(request)

    def cancel(self) -> None:
        """Stop the job at its next check (between photos)."""
        self._cancel.set()

    @property
    def running(self) -> bool:
        return self._busy.is_set()

    def stop(self) -> None:
        """Cancel any job and end the thread, waiting for the current step (GUI thread)."""
        self.cancel()
        if self._thread is not None:
            self._thread.quit()
            self._thread.wait()
            self._thread = None
