"""Training throughput: images per second of one full trainer step, per preset and precision.

    python bench/bench_train.py                          # bundled and paper presets, fp32 and bf16
    python bench/bench_train.py --presets paper --steps 6
    python bench/bench_train.py --reference              # also the plain reference step, side by side
    python bench/bench_train.py --presets paper --precisions bf16 --device cuda   # on a GPU

Each configuration is a real :class:`trainer.loop.Trainer` (networks, optimisers, the
identity network where the preset's stage uses it) on a synthetic prepared folder of
random faces (throughput does not depend on what the faces show), timed at the start of
the preset's heaviest stage (the last one: every loss on). Configurations are timed in
interleaved rounds, so that whatever else the machine does falls on all of them alike;
the figures are the median and the 5–95 % range of the per-step times.

``--reference`` adds the step the speed issue measured by hand: encoder + decoder of the
paper-size ExprGAN (128 px, width 1), L1 loss, Adam, batch 16.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from machine import machine_line, synchronised  # noqa: E402

from faceedit.core.alignment import TEMPLATE_5  # noqa: E402
from faceedit.core.device import resolve_precision  # noqa: E402
from faceedit.core.imageio import save_photo  # noqa: E402
from faceedit.core.models.exprgan import ExprGANConfig, Generator  # noqa: E402
from trainer.manifest import FACES_DIR, FaceRecord, PreparedInfo, write_prepared  # noqa: E402

LABELS = ("neutral", "anger", "disgust", "fear", "happiness", "sadness", "surprise")


def synthetic_prepared(folder: Path, size: int, faces: int = 48) -> Path:
    """A prepared folder of random crops in every label, paired by subject (train and test)."""
    rng = np.random.default_rng(0)
    (folder / FACES_DIR).mkdir(parents=True, exist_ok=True)
    records = []
    landmarks = (rng.random((68, 2)) * size).tolist()
    for i in range(faces):
        name = f"{FACES_DIR}/{i:04d}.png"
        save_photo(folder / name, rng.integers(0, 256, (size, size, 3), dtype=np.uint8), overwrite=True)
        label = LABELS[i % len(LABELS)]
        records.append(FaceRecord(
            file=name, source=name, label=label, intensity=0.0 if label == "neutral" else 1.0,
            subject=f"{i // 2:03d}", split="test" if i >= faces - 4 else "train",
            landmarks=landmarks, source_landmarks=landmarks,
        ))  # fmt: skip
    write_prepared(folder, PreparedInfo(kind="folders", root=str(folder), size=size, template=TEMPLATE_5.tolist()), records)
    return folder


def trainer_step(
    preset: str, precision: str, prepared_root: Path, batch_size: int | None, device: torch.device
) -> tuple[Callable[[], None], int, str]:
    """A callable that runs one trainer step of ``preset`` at ``precision`` on ``device``, its batch size, its stage."""
    from trainer.config import resolve_config
    from trainer.loop import Trainer

    config = resolve_config(preset, batch_size=batch_size, precision=resolve_precision(precision, device).name)
    size = config.model.image_size
    prepared = prepared_root / f"faces-{size}"
    if not prepared.exists():
        synthetic_prepared(prepared, size)
    run = Path(tempfile.mkdtemp(prefix=f"bench-{preset}-"))
    trainer = Trainer(config, prepared, run, device)
    start = config.total_steps - config.stages[-1].steps  # the last (heaviest) stage
    stage = config.stages[-1].name

    def step() -> None:
        trainer.step = start  # stay in that stage; the data draw depends on the step only
        trainer.train_step()

    return synchronised(step, device), config.batch_size, stage


def reference_step(precision: str, device: torch.device, batch: int = 16) -> tuple[Callable[[], None], int, str]:
    """Encoder + decoder of the paper-size ExprGAN, L1, Adam: the issue's hand measurement."""
    torch.manual_seed(0)
    generator = Generator(ExprGANConfig(image_size=128, width=1.0)).train().to(device)
    optimiser = torch.optim.Adam(generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    images = torch.rand(batch, 3, 128, 128, device=device) * 2 - 1
    labels = torch.rand(batch, 6, device=device)
    autocast = resolve_precision(precision, device).autocast

    def step() -> None:
        with autocast():
            output = generator(images, labels)
            loss = torch.nn.functional.l1_loss(output.float(), images)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()

    return synchronised(step, device), batch, "encoder+decoder L1"


def interleaved(steps: dict[str, Callable[[], None]], rounds: int, warmup: int) -> dict[str, list[float]]:
    """Seconds per step of each configuration, timed round-robin after ``warmup`` steps each."""
    for step in steps.values():
        for _ in range(warmup):
            step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    return times


def _spread(samples: list[float]) -> tuple[float, float, float]:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]  # noqa: E731
    return statistics.median(ordered), pick(0.05), pick(0.95)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="bundled,paper", help="comma-separated presets (default bundled,paper)")
    parser.add_argument("--precisions", default="fp32,bf16", help="comma-separated precisions (default fp32,bf16)")
    parser.add_argument("--steps", type=int, default=8, help="timed steps per configuration (default 8)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per configuration first (default 2)")
    parser.add_argument("--batch-size", type=int, help="override the presets' batch sizes")
    parser.add_argument("--reference", action="store_true", help="also time the plain reference step side by side")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(machine_line(device))
    steps: dict[str, Callable[[], None]] = {}
    meta: dict[str, tuple[int, str]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-train-") as folder:
        for preset in [p for p in args.presets.split(",") if p]:
            for precision in args.precisions.split(","):
                step, batch, stage = trainer_step(preset, precision, Path(folder), args.batch_size, device)
                steps[f"{preset}/{precision}"], meta[f"{preset}/{precision}"] = step, (batch, stage)
        if args.reference:
            for precision in args.precisions.split(","):
                step, batch, stage = reference_step(precision, device)
                steps[f"reference/{precision}"], meta[f"reference/{precision}"] = step, (batch, stage)
        times = interleaved(steps, args.steps, args.warmup)
    print(f"{'configuration':<18}{'stage':<22}{'batch':>6}{'ms/step (median, 5–95 %)':>32}{'images/s':>10}")
    for name, samples in times.items():
        batch, stage = meta[name]
        median, low, high = _spread(samples)
        print(f"{name:<18}{stage:<22}{batch:>6}{median * 1000:>12.0f} ({low * 1000:.0f}–{high * 1000:.0f}){'':>6}{batch / median:>10.1f}")
    for group in sorted({name.split("/")[0] for name in times}):
        if f"{group}/fp32" in times and f"{group}/bf16" in times:
            ratio = _spread(times[f"{group}/fp32"])[0] / _spread(times[f"{group}/bf16"])[0]
            print(f"{group}: bf16 is {ratio:.2f}× fp32's throughput")
    return 0


if __name__ == "__main__":
    sys.exit(main())
