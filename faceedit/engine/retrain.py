"""Retraining from the app: ``faceedit-train`` prepare → train → export in a child process.

Training runs in a separate process (``sys.executable -m trainer.cli …``) so that it can use
every core without stalling the GUI, can be stopped cleanly, and cannot take the app down
with it. The engine never imports the trainer: it talks to it only through its command
line and its files. Progress is followed by tailing the run's ``progress.jsonl`` (one
JSON :class:`faceedit.training.runs.Progress` per logged step); log lines are the child's output.

:class:`RetrainProcess` lives on the thread that makes it (the GUI thread). ``QProcess``
and the poll timer are event-driven, so nothing here blocks that thread, except
:meth:`RetrainProcess.shutdown` at close, which waits for the child to save its state.

The work folder holds everything::

    WORK/prepared/              the aligned faces (reused while dataset, layout and size match)
    WORK/runs/00000-desktop/    numbered run folders (config, progress.jsonl, samples, checkpoint)
    WORK/model-00000-desktop.pt the exported model file
"""

from __future__ import annotations

import os
import signal
import sys
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal, Slot

from faceedit.core.errors import FaceeditError
from faceedit.training.datasets import read_prepared_header
from faceedit.training.presets import DEFAULT_PRESET, preset_image_size
from faceedit.training.runs import CHECKPOINT_NAME, CONFIG_NAME, PROGRESS_NAME, Progress, RunConfig, numbered_runs

# The work folder's layout is the engine's own: the trainer only sees the paths it is given.
# What a run folder and a prepared folder hold is faceedit.training's (the engine may not
# import the trainer).
PREPARED_DIR = "prepared"
RUNS_DIR = "runs"

POLL_MS = 250
SIGINT_GRACE_MS = 30_000  # time to finish the step and write the checkpoint after Ctrl-C
TERMINATE_GRACE_MS = 5_000


# ------------------------------------------------------------------------------ plain data


@dataclass(frozen=True)
class RetrainSettings:
    """What to train on and how; the work folder holds the prepared faces, runs and models."""

    dataset: Path
    work: Path
    preset: str = DEFAULT_PRESET
    device: str = "auto"
    max_steps: int | None = None  # None: the preset's own length
    kind: str = "auto"  # dataset layout: auto, oulu, folders or pairs
    size: int | None = None  # crop size; None: the preset's image size
    precision: str = "auto"  # fp32, bf16 or auto (bf16 where native); a resumed run keeps its own

    @property
    def image_size(self) -> int:
        return self.size or preset_image_size(self.preset)

    @property
    def prepared(self) -> Path:
        return self.work / PREPARED_DIR

    @property
    def runs(self) -> Path:
        return self.work / RUNS_DIR


# ------------------------------------------------------------------------------ folders (any thread)


def default_work_dir() -> Path:
    """The per-user training folder: platformdirs' user data dir + faceedit/training."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("faceedit", appauthor=False)) / "training"


def resumable_run(work: Path) -> Path | None:
    """The newest run under WORK/runs that has a checkpoint to continue from."""
    runs = [run for run in numbered_runs(work / RUNS_DIR) if (run / CHECKPOINT_NAME).exists()]
    return runs[-1] if runs else None


def model_path_for(work: Path, run: Path) -> Path:
    return work / f"model-{run.name}.pt"


def _prepared_matches(settings: RetrainSettings) -> bool:
    """WORK/prepared holds a finished prepare of this dataset at this size (and layout)."""
    header = read_prepared_header(settings.prepared)
    return (
        header is not None
        and header.root == settings.dataset.resolve()
        and header.size == settings.image_size
        and settings.kind in ("auto", header.kind)
    )


def _error_line(lines: deque[str], exit_code: int) -> str:
    """The child's own one-line error, else its last line (a traceback's last line says most)."""
    for line in reversed(lines):
        for prefix in ("faceedit-train: error: ", "faceedit: error: "):
            if line.startswith(prefix):
                return line[len(prefix):]
    last = next((line for line in reversed(lines) if line.strip()), "")
    return last or f"exit status {exit_code}"


# ------------------------------------------------------------------------------ the process


class RetrainProcess(QObject):
    """prepare → train → export as child processes, followed through signals (GUI thread)."""

    phase_changed = Signal(str)  # "prepare", "train", "export"
    stage_changed = Signal(str)  # the curriculum stage: "controller", "reconstruction", "refining"
    run_found = Signal(str)  # the run folder being trained
    progress = Signal(object)  # faceedit.training.runs.Progress
    log = Signal(str)  # one line of the child's output
    finished = Signal(str)  # the exported model file
    failed = Signal(str)  # one line for the user
    cancelled = Signal(str)  # stopped on request; the run folder ("" before one exists)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._process: QProcess | None = None
        self._phase: str | None = None
        self._settings: RetrainSettings | None = None
        self._run: Path | None = None
        self._known_runs: set[Path] = set()
        self._offset = 0
        self._partial = b""
        self._stage = ""
        self._latest_sample: str | None = None
        self._cancel_requested = False
        self._terminated = False
        self._stderr_tail: deque[str] = deque(maxlen=40)
        self._buffers = {"out": b"", "err": b""}
        self._poll = QTimer(self)
        self._poll.setInterval(POLL_MS)
        self._poll.timeout.connect(self._read_progress)
        # A child of self, not QTimer.singleShot: it must die with this object, never call
        # into it afterwards.
        self._stop_timer = QTimer(self)
        self._stop_timer.setSingleShot(True)
        self._stop_timer.timeout.connect(self._escalate_stop)

    # --- requests -----------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._phase is not None

    @property
    def phase(self) -> str | None:
        return self._phase

    @property
    def run(self) -> Path | None:
        """The run folder being (or last) trained."""
        return self._run

    def start(self, settings: RetrainSettings) -> None:
        """Prepare (unless WORK/prepared already matches), train a new run, export it."""
        if self.running:
            return
        self._reset(settings)
        if not settings.dataset.is_dir():
            self._fail(f"dataset folder {settings.dataset} does not exist")
            return
        if not self._make_work_dir():
            return
        if _prepared_matches(settings):
            self.log.emit(f"Using the faces prepared earlier in {settings.prepared}")
            self._start_train()
            return
        args = ["prepare", str(settings.dataset), "--out", str(settings.prepared), "--size", str(settings.image_size),
                "--kind", settings.kind]  # fmt: skip
        if settings.prepared.exists():
            args.append("--overwrite")  # another dataset or size was prepared there before
        self._launch("prepare", args)

    def resume(self, settings: RetrainSettings) -> None:
        """Continue the newest stopped run under WORK/runs, then export it."""
        if self.running:
            return
        self._reset(settings)
        run = resumable_run(settings.work)
        if run is None:
            self._fail(f"there is no stopped run to resume in {settings.runs}")
            return
        try:
            prepared = str(RunConfig.read(run).prepared)
        except FaceeditError as error:
            self._fail(f"{run} cannot be resumed: its {CONFIG_NAME} is unreadable ({error})")
            return
        self._set_run(run)
        self._launch("train", ["train", "--resume", str(run), prepared, *self._device_args()])

    def cancel(self) -> None:
        """Stop the child. Training catches Ctrl-C, saves its state and exits; Resume continues."""
        process = self._process
        if process is None or process.state() == QProcess.ProcessState.NotRunning:
            return
        self._cancel_requested = True
        pid = process.processId()
        if os.name == "posix" and pid > 0:
            # SIGINT is Ctrl-C: the trainer finishes its step, writes checkpoint.pt and exits 130.
            os.kill(pid, signal.SIGINT)
            self._stop_timer.start(SIGINT_GRACE_MS)
        else:
            # No Ctrl-C to send to a windowless child on Windows: the last periodic checkpoint stays.
            process.kill()

    def shutdown(self, wait_ms: int = SIGINT_GRACE_MS) -> None:
        """Cancel and wait for the child to save and exit (blocks; for closing the app)."""
        process = self._process
        if process is None:
            return
        self.cancel()
        if not process.waitForFinished(wait_ms):
            process.kill()
            process.waitForFinished(TERMINATE_GRACE_MS)

    # --- phases -------------------------------------------------------------------------

    def _reset(self, settings: RetrainSettings) -> None:
        self._settings = settings
        self._run = None
        self._offset, self._partial = 0, b""
        self._stage, self._latest_sample = "", None
        self._cancel_requested = False
        self._terminated = False
        self._stderr_tail.clear()
        self._buffers = {"out": b"", "err": b""}

    def _make_work_dir(self) -> bool:
        assert self._settings is not None
        try:
            self._settings.work.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            self._fail(f"cannot create the work folder {self._settings.work}: {error.strerror}")
            return False
        return True

    def _device_args(self) -> list[str]:
        assert self._settings is not None
        return ["--device", self._settings.device] if self._settings.device else []

    def _start_train(self) -> None:
        settings = self._settings
        assert settings is not None
        self._known_runs = set(numbered_runs(settings.runs))  # the new run is the one not here yet
        args = ["train", str(settings.prepared), "--preset", settings.preset, "--out", str(settings.runs), *self._device_args(),
                "--precision", settings.precision]
        if settings.max_steps:
            args += ["--max-steps", str(settings.max_steps)]
        self._launch("train", args)

    def _start_export(self) -> None:
        assert self._settings is not None and self._run is not None
        model = model_path_for(self._settings.work, self._run)
        self._launch("export", ["export", str(self._run), "-o", str(model), "--overwrite"])

    def _launch(self, phase: str, args: list[str]) -> None:
        assert self._settings is not None
        self._phase = phase
        self.phase_changed.emit(phase)
        self.log.emit("$ faceedit-train " + " ".join(args))
        process = QProcess(self)
        env = QProcessEnvironment.systemEnvironment()
        env.insert("PYTHONUNBUFFERED", "1")  # lines as they happen, not when a buffer fills
        env.insert("PYTHONIOENCODING", "utf-8")
        # From a source checkout the trainer sits beside the faceedit package, not installed.
        source_root = str(Path(__file__).resolve().parents[2])
        env.insert("PYTHONPATH", os.pathsep.join(p for p in (source_root, env.value("PYTHONPATH", "")) if p))
        process.setProcessEnvironment(env)
        process.setWorkingDirectory(str(self._settings.work))
        process.readyReadStandardOutput.connect(lambda: self._read_output(process, "out"))
        process.readyReadStandardError.connect(lambda: self._read_output(process, "err"))
        process.finished.connect(lambda code, status: self._on_finished(process, code, status))
        process.errorOccurred.connect(lambda error: self._on_error(process, error))
        self._process = process
        if phase == "train":
            self._poll.start()
        process.start(sys.executable, ["-m", "trainer.cli", *args])

    def _on_error(self, process: QProcess, error: QProcess.ProcessError) -> None:
        if process is self._process and error == QProcess.ProcessError.FailedToStart:
            self._process = None
            self._fail(f"could not start {sys.executable}: {process.errorString()}")

    def _on_finished(self, process: QProcess, exit_code: int, exit_status: QProcess.ExitStatus) -> None:
        if process is not self._process:
            return
        self._read_output(process, "out")
        self._read_output(process, "err")
        self._flush_output()
        self._stop_timer.stop()
        phase = self._phase
        if phase == "train":
            self._read_progress()
            self._poll.stop()
        # The finished QProcess stays a child of self until self goes (a few per run): a
        # deleteLater() still pending when self is destroyed crashes PySide6.
        self._process = None
        if self._cancel_requested:
            self._phase = None
            self.cancelled.emit(str(self._run) if self._run else "")
            return
        if exit_status != QProcess.ExitStatus.NormalExit or exit_code != 0:
            self._fail(f"{phase} failed: {_error_line(self._stderr_tail, exit_code)}")
            return
        if phase == "prepare":
            self._start_train()
        elif phase == "train":
            if self._run is None:
                self._fail("training ended but its run folder was not found")
            else:
                self._start_export()
        else:
            assert self._settings is not None and self._run is not None
            self._phase = None
            self.finished.emit(str(model_path_for(self._settings.work, self._run)))

    def _fail(self, message: str) -> None:
        self._phase = None
        self._poll.stop()
        self.failed.emit(message)

    @Slot()
    def _escalate_stop(self) -> None:
        """The child ignored Ctrl-C for too long: terminate it, and later kill it."""
        process = self._process
        if process is None or process.state() == QProcess.ProcessState.NotRunning:
            return
        if self._terminated:
            process.kill()
        else:
            self._terminated = True
            process.terminate()
            self._stop_timer.start(TERMINATE_GRACE_MS)

    # --- output and progress ----------------------------------------------------------------

    def _read_output(self, process: QProcess, channel: str) -> None:
        data = bytes(process.readAllStandardOutput() if channel == "out" else process.readAllStandardError())
        if not data:
            return
        # tqdm redraws with \r; a log wants each state as its own line.
        lines = (self._buffers[channel] + data).replace(b"\r", b"\n").split(b"\n")
        self._buffers[channel] = lines.pop()
        for raw in lines:
            self._emit_line(channel, raw)

    def _flush_output(self) -> None:
        for channel in ("out", "err"):
            if self._buffers[channel]:
                self._emit_line(channel, self._buffers[channel])
                self._buffers[channel] = b""

    def _emit_line(self, channel: str, raw: bytes) -> None:
        line = raw.decode("utf-8", errors="replace").rstrip()
        if not line:
            return
        if channel == "err":
            self._stderr_tail.append(line)
        self.log.emit(line)

    def _set_run(self, run: Path) -> None:
        self._run = run
        self.run_found.emit(str(run))

    @Slot()
    def _read_progress(self) -> None:
        """Read the lines added to progress.jsonl since the last look (poll timer)."""
        settings = self._settings
        if settings is None:
            return
        if self._run is None:
            new = [run for run in numbered_runs(settings.runs) if run not in self._known_runs]
            if not new:
                return
            self._set_run(new[-1])
        assert self._run is not None
        try:
            with (self._run / PROGRESS_NAME).open("rb") as file:
                file.seek(self._offset)
                data = file.read()
        except OSError:
            return  # not written yet
        self._offset += len(data)
        lines = (self._partial + data).split(b"\n")
        self._partial = lines.pop()  # a line still being written
        for raw in lines:
            progress = Progress.from_json(raw.decode("utf-8", errors="replace"), self._latest_sample)
            if progress is None:
                continue
            self._latest_sample = progress.sample
            if progress.stage != self._stage:
                self._stage = progress.stage
                self.stage_changed.emit(progress.stage)
            self.progress.emit(progress)
