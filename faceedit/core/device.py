"""Which torch device runs the model: CUDA when available, else CPU; choosable.

The choice comes from, in order: an explicit value (a ``--device`` flag, a GUI setting),
the ``FACEEDIT_DEVICE`` environment variable, then ``auto``.
"""

from __future__ import annotations

import os

import torch

from faceedit.core.errors import FaceeditError

DEVICE_ENV = "FACEEDIT_DEVICE"


def resolve_device(choice: str | None = None) -> torch.device:
    """Turn "auto", "cpu", "cuda" or "cuda:N" into a usable device, or explain why not."""
    choice = (choice or os.environ.get(DEVICE_ENV) or "auto").strip().lower()
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if choice == "cpu":
        return torch.device("cpu")
    if choice == "cuda" or choice.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise FaceeditError(f"device {choice!r} was asked for, but this machine has no usable CUDA GPU (use --device cpu)")
        device = torch.device(choice)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise FaceeditError(f"device {choice!r} does not exist: this machine has {torch.cuda.device_count()} GPU(s)")
        return device
    raise FaceeditError(f"unknown device {choice!r}: use auto, cpu, cuda or cuda:N")


def describe_device(device: torch.device) -> str:
    """A short human name: "CPU (2 threads)" or "CUDA: NVIDIA H100 …"."""
    if device.type == "cuda":
        return f"CUDA: {torch.cuda.get_device_name(device)}"
    return f"CPU ({torch.get_num_threads()} threads)"
