"""Describe the machine a benchmark ran on, and summarise repeated timings."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch


def machine_line(device: "torch.device | None" = None) -> str:
    """CPU model, cores, OS, Python and torch versions, torch threads (and the GPU of a cuda ``device``), on one line."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import torch

    line = (
        f"{cpu}; {os.cpu_count()} cores; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}; torch {torch.__version__} ({torch.get_num_threads()} threads)"
    )
    if device is not None and device.type == "cuda":
        line += f"; GPU {torch.cuda.get_device_name(device)}"
    return line


def synchronised(step: Callable[[], object], device: "torch.device") -> Callable[[], None]:
    """``step``, returning only once a GPU ``device`` has finished it (its kernels run
    asynchronously, so a timer would otherwise stop early); ``step`` itself elsewhere."""
    def run() -> None:
        step()
        if device.type == "cuda":
            import torch

            torch.cuda.synchronize(device)

    return run


@dataclass(frozen=True)
class Timing:
    median_ms: float
    p05_ms: float
    p95_ms: float
    runs: int

    def __str__(self) -> str:
        return f"median {self.median_ms:8.2f} ms   (5–95 %: {self.p05_ms:.2f}–{self.p95_ms:.2f}, n={self.runs})"


def time_it(fn: Callable[[], object], *, runs: int = 20, warmup: int = 2) -> Timing:
    """Run ``fn`` ``warmup`` times untimed, then ``runs`` times; wall-clock milliseconds."""
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000.0)
    samples.sort()
    pick = lambda q: samples[min(len(samples) - 1, int(round(q * (len(samples) - 1))))]  # noqa: E731
    return Timing(statistics.median(samples), pick(0.05), pick(0.95), runs)
