"""Run folders, the trainer's side: progress lines with TensorBoard scalars, and sample grids.

The folder's layout, the progress record and config.json are shared with the engine and
owned by :mod:`faceedit.training.runs`; what stays here needs the trainer's dependencies
(torch's TensorBoard writer, the photo writer for sample grids). Rank 0 only; the
training thread.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from faceedit.core.atomic import atomic_path
from faceedit.core.imageio import save_photo

from faceedit.training.runs import PROGRESS_NAME, SAMPLES_DIR, Progress


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
        self._progress.write(progress.to_json() + "\n")
        self._progress.flush()
        if self._writer is not None:
            for name, value in progress.losses.items():
                self._writer.add_scalar(name, value, progress.step)
            self._writer.add_scalar("speed/images_per_second", progress.images_per_second, progress.step)

    def close(self) -> None:
        self._progress.close()
        if self._writer is not None:
            self._writer.close()


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

