"""Launched by tests/trainer/test_distributed.py under torchrun: one short run of the reconstruction stage."""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from trainer.config import resolve_config
from trainer.train import train_run


def reconstruction_config(batch_size: int):  # noqa: ANN201
    """Reconstruction stage without Q, so no batch norm (D_img) sees per-process statistics."""
    config = resolve_config("smoke", batch_size=batch_size)
    stage = replace(config.stages[1], steps=3, weights=replace(config.stages[1].weights, q=0.0))
    return replace(config, stages=(stage,), log_every=1, sample_every=100, checkpoint_every=100)


if __name__ == "__main__":
    prepared, runs, batch = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
    train_run(prepared, reconstruction_config(batch), runs=runs, device="cpu")
