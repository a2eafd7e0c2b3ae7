"""Where and how torch runs the model: the device (CUDA or CPU) and the precision (fp32 or bf16).

Each choice comes from, in order: an explicit value (a ``--device`` / ``--precision`` flag,
a GUI setting), the ``FACEEDIT_DEVICE`` / ``FACEEDIT_PRECISION`` environment variable,
then ``auto``.

Precision ``auto`` picks bfloat16 autocast where the hardware computes it natively (a CUDA
GPU that supports it; a CPU with AMX-BF16 or AVX-512 BF16 instructions) and float32
elsewhere: emulated bfloat16 is slower than float32 (bench/bench_precision.py measures it).
Autocast keeps the weights in float32; matrix products and convolutions run in bfloat16.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
from dataclasses import dataclass

import torch

from faceedit.core.errors import FaceeditError

DEVICE_ENV = "FACEEDIT_DEVICE"
PRECISION_ENV = "FACEEDIT_PRECISION"
PRECISION_CHOICES: tuple[str, ...] = ("auto", "fp32", "bf16")
_NATIVE_BF16_FLAGS = ("amx_bf16", "avx512_bf16")


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


@functools.cache
def cpu_bf16_flags() -> tuple[str, ...]:
    """The CPU's native bfloat16 instruction sets (Linux /proc/cpuinfo flags); () when none or unknown."""
    if not sys.platform.startswith("linux"):
        return ()
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as file:
            for line in file:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return tuple(flag for flag in _NATIVE_BF16_FLAGS if flag in flags)
    except OSError:
        pass
    return ()


@dataclass(frozen=True)
class Precision:
    """The precision a model runs at on one device, and why it was chosen."""

    name: str  # "fp32" or "bf16"
    device_type: str  # "cpu" or "cuda"
    reason: str  # "asked for" or what "auto" found

    @property
    def dtype(self) -> torch.dtype:
        return torch.bfloat16 if self.name == "bf16" else torch.float32

    def autocast(self) -> contextlib.AbstractContextManager:
        """A context in which the model's forward passes run at this precision (any thread)."""
        if self.name == "fp32":
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=torch.bfloat16)

    def describe(self) -> str:
        """One line for ``faceedit info`` and the status bar: "bfloat16 (auto: avx512_bf16)"."""
        return f"{'bfloat16' if self.name == 'bf16' else 'float32'} ({self.reason})"


FP32 = Precision("fp32", "cpu", "default")
"""Plain float32 on the CPU: what tests and byte-exact comparisons use."""


def resolve_precision(choice: str | None, device: torch.device) -> Precision:
    """Turn "auto", "fp32" or "bf16" into the precision to run at on ``device``, or explain why not.

    None and "auto" both defer to $FACEEDIT_PRECISION first (a setting left at auto, in the
    app or a run's config, lets the environment decide), then to what the hardware has.
    """
    if not choice or choice.strip().lower() == "auto":
        choice = os.environ.get(PRECISION_ENV) or "auto"
    choice = choice.strip().lower()
    if choice not in PRECISION_CHOICES:
        raise FaceeditError(f"unknown precision {choice!r}: use auto, fp32 or bf16")
    kind = device.type
    if choice == "fp32":
        return Precision("fp32", kind, "asked for")
    if choice == "bf16":
        if kind == "cuda" and not torch.cuda.is_bf16_supported():
            raise FaceeditError("precision bf16 was asked for, but this GPU does not support bfloat16 (use --precision fp32)")
        return Precision("bf16", kind, "asked for")
    if kind == "cuda":
        native = torch.cuda.is_bf16_supported()
        return Precision("bf16" if native else "fp32", kind, "auto: " + ("GPU supports bfloat16" if native else "GPU lacks bfloat16"))
    flags = cpu_bf16_flags()
    if flags:
        return Precision("bf16", kind, f"auto: {', '.join(flags)}")
    return Precision("fp32", kind, "auto: no native bfloat16 on this CPU")

