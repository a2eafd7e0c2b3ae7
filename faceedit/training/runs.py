"""The run folder: its layout, the progress record and the run config (config.json).

    RUNS/00003-desktop/
        config.json          RunConfig: the resolved train config, the prepared folder, world size
        progress.jsonl       one Progress per logged step, as JSON
        samples/step-000500.png, samples/latest.png
        tensorboard/         event files (when the tensorboard package is installed)
        checkpoint.pt        the resumable training state (last good)

The trainer writes these files (rank 0 only); the engine reads them from another process
while they are being written, so readers here tolerate half-written lines. Pure Python:
any thread.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from faceedit.core.atomic import write_text_atomic
from faceedit.core.errors import FaceeditError

CONFIG_NAME = "config.json"
PROGRESS_NAME = "progress.jsonl"
CHECKPOINT_NAME = "checkpoint.pt"
PREVIOUS_CHECKPOINT_NAME = "checkpoint-previous.pt"
"""The checkpoint before the last one: a resume falls back to it when the last is damaged."""
SAMPLES_DIR = "samples"

RUN_FOLDER = re.compile(r"^(\d{5})-")
"""A numbered run folder's name: five digits, a dash, the preset (``00003-desktop``)."""


# ------------------------------------------------------------------------------ folders


def run_folder_name(number: int, preset: str) -> str:
    """``00003-desktop``: the name of run ``number`` of ``preset``."""
    return f"{number:05d}-{preset}"


def numbered_runs(runs: Path) -> list[Path]:
    """Run folders (``00003-desktop``) under ``runs``, oldest first; [] when there is none."""
    try:
        children = [p for p in runs.iterdir() if p.is_dir() and not p.name.startswith(".")]
    except OSError:
        return []
    found = [(int(m.group(1)), p) for p in sorted(children, key=lambda p: p.name) if (m := RUN_FOLDER.match(p.name))]
    return [p for _, p in sorted(found)]


def new_run_dir(runs: Path, preset: str) -> Path:
    """The next numbered run folder under ``runs``, created; FaceeditError when it cannot be.

    Numbers count every entry whose name starts like a run folder (files too), so a number
    is never reused.
    """
    if runs.exists() and not runs.is_dir():
        raise FaceeditError(f"{runs} is a file; --out needs a folder for the numbered run folders")
    try:
        runs.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise FaceeditError(f"cannot create the runs folder {runs}: {error.strerror}") from error
    numbers = [int(m.group(1)) for p in runs.iterdir() if (m := RUN_FOLDER.match(p.name))]
    run = runs / run_folder_name(max(numbers) + 1 if numbers else 0, preset)
    try:
        run.mkdir()
    except FileExistsError as error:  # another process took the number at the same moment
        raise FaceeditError(f"run folder {run} exists; try again") from error
    return run


# ------------------------------------------------------------------------------ progress


@dataclass(frozen=True)
class Progress:
    """One logged training step: handed to the trainer's ``progress_fn``, one line of progress.jsonl."""

    step: int  # steps done so far (1-based)
    total_steps: int
    stage: str  # the curriculum stage's name
    losses: dict[str, float] = field(default_factory=dict)
    images_per_second: float = 0.0
    eta_seconds: float = 0.0
    # The sample grid written at this step; read back with ``latest_sample``, the newest so far.
    sample: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        """One line of progress.jsonl (without the newline)."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, line: str, latest_sample: str | None = None) -> Progress | None:
        """A progress line, or None for a line that is not one (half-written, damaged).

        ``latest_sample`` stands in for a line without a sample, so a reader following the
        file always knows the newest grid.
        """
        try:
            data = json.loads(line)
            extra = data.get("extra")
            return cls(
                step=int(data["step"]),
                total_steps=int(data["total_steps"]),
                stage=str(data.get("stage", "")),
                losses={str(k): float(v) for k, v in (data.get("losses") or {}).items()},
                images_per_second=float(data.get("images_per_second") or 0.0),
                eta_seconds=float(data.get("eta_seconds") or 0.0),
                sample=data.get("sample") or latest_sample,
                extra=dict(extra) if isinstance(extra, dict) else {},
            )
        except (ValueError, KeyError, TypeError, AttributeError):
            return None


def run_progress(run: Path) -> Progress | None:
    """The last complete progress line of ``run`` (None when it has none yet)."""
    try:
        lines = (run / PROGRESS_NAME).read_text(encoding="utf-8").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        progress = Progress.from_json(line)
        if progress is not None:
            return progress
    return None


# ------------------------------------------------------------------------------ config.json


@dataclass(frozen=True)
class RunConfig:
    """What config.json holds: the resolved train config, where the faces came from, how many processes.

    ``train`` is ``TrainConfig.to_dict()`` kept as plain data: only the trainer, which owns
    that type, turns it back into one.
    """

    train: dict[str, Any]
    prepared: Path  # the PREPARED folder, resolved
    world_size: int = 1

    def to_dict(self) -> dict[str, Any]:
        return {"train": self.train, "prepared": str(self.prepared), "world_size": self.world_size}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RunConfig:
        """The config from config.json's object; ValueError/KeyError/TypeError when it is not one."""
        train = values.get("train", {})
        if not isinstance(train, dict):
            raise TypeError(f"'train' is {type(train).__name__}, not an object")
        return cls(train=train, prepared=Path(str(values["prepared"])), world_size=int(values.get("world_size", 1)))

    def write(self, run: Path) -> None:
        """Write ``run``/config.json atomically (replacing one that is there)."""
        write_text_atomic(run / CONFIG_NAME, json.dumps(self.to_dict(), indent=2) + "\n", overwrite=True)

    @classmethod
    def read(cls, run: Path) -> RunConfig:
        """``run``'s config.json; FaceeditError when ``run`` has none or it is damaged."""
        path = run / CONFIG_NAME
        if not path.exists():
            raise FaceeditError(f"{run} is not a training run (no {CONFIG_NAME})")
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(values, dict):
                raise TypeError("not a JSON object")
            return cls.from_dict(values)
        except KeyError as error:
            raise FaceeditError(f"{path} is damaged (no {error} entry)") from error
        except (OSError, ValueError, TypeError) as error:
            raise FaceeditError(f"{path} is damaged or unreadable ({error})") from error


__all__ = [
    "CHECKPOINT_NAME",
    "PREVIOUS_CHECKPOINT_NAME",
    "CONFIG_NAME",
    "PROGRESS_NAME",
    "RUN_FOLDER",
    "SAMPLES_DIR",
    "Progress",
    "RunConfig",
    "new_run_dir",
    "numbered_runs",
    "run_folder_name",
    "run_progress",
]
