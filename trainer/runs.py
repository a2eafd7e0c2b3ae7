"""Run folders: numbered, with the resolved config, progress lines, samples and checkpoints.

    RUNS/00003-desktop/
        config.json          the resolved TrainConfig and where the data came from
        progress.jsonl       one JSON line per logged step (step, stage, losses, images/s, ETA)
        samples/step-000500.png, samples/latest.png
        tensorboard/         event files (when the tensorboard package is installed)
        checkpoint.pt        the resumable training state (last good)
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from faceedit.core.atomic import atomic_path, write_text_atomic
from faceedit.core.errors import FaceeditError
from faceedit.core.imageio import save_photo

CONFIG_NAME = "config.json"
PROGRESS_NAME = "progress.jsonl"
CHECKPOINT_NAME = "checkpoint.pt"
SAMPLES_DIR = "samples"


@dataclass(frozen=True)
class Progress:
    """One logged step; handed to ``progress_fn`` and written to progress.jsonl."""

    step: int  # steps done so far (1-based)
    total_steps: int
    stage: str
    losses: dict[str, float]
    images_per_second: float
    eta_seconds: float
    sample: str | None = None  # path of a sample grid written at this step
    extra: dict[str, Any] = field(default_factory=dict)


def new_run_dir(runs: Path, preset: str) -> Path:
    """The next numbered run folder under ``runs`` (created)."""
    if runs.exists() and not runs.is_dir():
        raise FaceeditError(f"{runs} is a file; --out needs a folder for the numbered run folders")
    try:
        runs.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise FaceeditError(f"cannot create the runs folder {runs}: {error.strerror}") from error
    numbers = [int(m.group(1)) for p in runs.iterdir() if (m := re.match(r"(\d{5})-", p.name))]
    run = runs / f"{(max(numbers) + 1 if numbers else 0):05d}-{preset}"
    try:
        run.mkdir()
    except FileExistsError as error:  # another process took the number at the same moment
        raise FaceeditError(f"run folder {run} exists; try again") from error
    return run


class RunLog:
    """Writes progress lines and TensorBoard scalars for one run (rank 0 only)."""

    def __init__(self, run: Path, tensorboard: bool = True) -> None:
        self.run = run
        self._progress = (run / PROGRESS_NAME).open("a", encoding="utf-8")
        self._writer = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self._writer = SummaryWriter(str(run / "tensorboard"))
            except ImportError:  # tensorboard is an optional extra: faceedit[train]
                self._writer = None

    @property
    def has_tensorboard(self) -> bool:
        return self._writer is not None

    def write(self, progress: Progress) -> None:
        self._progress.write(json.dumps(asdict(progress)) + "\n")
        self._progress.flush()
        if self._writer is not None:
            for name, value in progress.losses.items():
                self._writer.add_scalar(name, value, progress.step)
            self._writer.add_scalar("speed/images_per_second", progress.images_per_second, progress.step)

    def close(self) -> None:
        self._progress.close()
        if self._writer is not None:
            self._writer.close()


def write_config(run: Path, config: dict[str, Any]) -> None:
    write_text_atomic(run / CONFIG_NAME, json.dumps(config, indent=2) + "\n", overwrite=True)


def read_config(run: Path) -> dict[str, Any]:
    path = run / CONFIG_NAME
    if not path.exists():
        raise FaceeditError(f"{run} is not a training run (no {CONFIG_NAME})")
    return json.loads(path.read_text())


def save_sample_grid(run: Path, step: int, rows: list[list[np.ndarray]]) -> Path:
    """Write a grid (rows of H×W×3 uint8 tiles) as samples/step-NNNNNN.png and latest.png."""
    grid = np.concatenate([np.concatenate(row, axis=1) for row in rows], axis=0)
    folder = run / SAMPLES_DIR
    folder.mkdir(exist_ok=True)
    path = folder / f"step-{step:06d}.png"
    save_photo(path, grid, overwrite=True)
    with atomic_path(folder / "latest.png", overwrite=True) as tmp:
        shutil.copyfile(path, tmp)
    return path
