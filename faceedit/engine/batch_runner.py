"""Batch export off the GUI thread: the same ``run_batch`` as ``faceedit batch``, on a QThread.

The runner loads its own copy of the model file (and its own face detector) on its own
thread. The edit worker's copy stays free for live slider editing while a batch runs,
and neither thread ever waits for the other's torch calls. A copy of a desktop model is
tens of MB, which is a fair price for a window that keeps responding.

Requests (:meth:`BatchRunner.start`, :meth:`BatchRunner.cancel`) may come from any
thread; results come back as signals (queued to the GUI thread). Every exception is
caught and reported through ``failed``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Signal, Slot

from faceedit.core.expressions import ExpressionTargets
from faceedit.engine.job_runner import JobRunner

if TYPE_CHECKING:  # only for annotations: importing core.batch loads torch
    from faceedit.core.batch import BatchSummary


@dataclass(frozen=True)
class BatchRequest:
    """What the dialog asks for; the runner turns it into a ``BatchJob`` on its own thread.

    Plain values only, so the GUI can build one without importing torch.
    """

    input_dir: Path
    output_dir: Path
    targets: ExpressionTargets = ExpressionTargets()
    levels: tuple[float, ...] | None = None  # set: all-expressions mode
    output_suffix: str | None = None  # ".png" …; None keeps each photo's format
    overwrite: bool = False
    as_neutral: bool = False  # take every face as neutral, whatever the model reads


def estimate_eta(elapsed: float, done: int, total: int) -> float:
    """Seconds left, from the mean time per photo so far (0 when nothing is left)."""
    if done <= 0 or total <= done:
        return 0.0
    return elapsed / done * (total - done)


class BatchRunner(JobRunner):
    """Runs one batch at a time on its own thread, with its own model and detector."""

    status = Signal(str)  # a phase before the first photo: "Loading the model…"
    progress = Signal(int, int, str, float)  # photos done, total, photo path, ETA seconds
    finished = Signal(object)  # BatchSummary (cancelled=True when stopped early)
    failed = Signal(str)  # the job could not run at all (bad model, unwritable output …)

    def __init__(self, model_path: str, device: str = "auto", synchronous: bool = False, precision: str = "auto") -> None:
        super().__init__("faceedit-batch", model_path, device, synchronous, precision)

    # --- work: the runner's thread ----------------------------------------------------

    @Slot(object)
    def _run(self, request: BatchRequest) -> None:
        summary, message = None, None
        try:
            from faceedit.core.batch import BatchJob, run_batch
            from faceedit.core.errors import FaceeditError

            try:
                job = BatchJob(
                    input_dir=request.input_dir,
                    output_dir=request.output_dir,
                    targets=request.targets,
                    levels=request.levels,
                    output_suffix=request.output_suffix,
                    overwrite=request.overwrite,
                    as_neutral=request.as_neutral,
                )
                self._load()
                self.status.emit("Finding photos…")
                started = time.monotonic()

                def progress(done: int, total: int, path: Path) -> None:
                    eta = estimate_eta(time.monotonic() - started, done, total)
                    self.progress.emit(done, total, str(path), eta)

                summary = run_batch(job, self._detector, self._editor, progress=progress, should_stop=self._cancel.is_set)
            except FaceeditError as error:
                message = str(error)
        except Exception as error:  # a bug, but the app must stay up and say so
            message = f"batch export failed: {type(error).__name__}: {error}"
        # Not busy any more before anyone hears of the end, so a handler may start again.
        self._busy.clear()
        if summary is not None:
            self.finished.emit(summary)
        else:
            self.failed.emit(message or "batch export failed")

    def _load(self) -> None:
        """The model and the detector, once per runner (a second Start reuses them)."""
        if self._editor is None:
            from faceedit.core.models.file import load_model
            from faceedit.core.device import resolve_device
            from faceedit.core.editor import ExpressionEditor

            self.status.emit("Loading the model…")
            self._editor = ExpressionEditor(load_model(self._model_path, resolve_device(self._device), self._precision))
        if self._detector is None:
            from faceedit.core.faces import face_detector

            self._detector = face_detector()


def summary_text(summary: BatchSummary, max_problems: int = 50) -> str:
    """The summary as plain lines: the counts, then each problem photo with its reason."""
    lines = [summary.line()]
    if summary.csv_path is not None:
        lines.append(f"List of outputs: {summary.csv_path}")
    if summary.problems:
        lines.append("")
        lines.append("Problems:")
        lines += [f"  {path.name}: {reason}" for path, reason in summary.problems[:max_problems]]
        if len(summary.problems) > max_problems:
            lines.append(f"  … and {len(summary.problems) - max_problems} more (see the CSV)")
    return "\n".join(lines)
