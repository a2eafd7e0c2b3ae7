"""Can a per-face appearance change be learned from London's pairs, or only their median?

    .venv/bin/python bench/study_pair_appearance.py PREPARED_LONDON [--model FILE] [--steps 1500]

Issue #12 plans an appearance learned per face "in the warped frame, with paired
supervision". This measures whether the pairs we have can teach one. For every London
subject with a neutral and a smiling photo, both are warped into the model's mean face
(`faceedit-train geometry`'s frame, so the shape change is taken out) as 64-pixel log
luminance; the smile's appearance change is their difference. On the held-out subjects it
compares three predictions of that change, by the mean absolute error over the face (each
map's median over the face taken out, as the model's maps are):

- no change (zero map);
- the median map of the training pairs (what `--appearance` ships);
- a small U-Net trained on the training pairs, fed the neutral face and the median map,
  predicting the change as median map + a per-face residual (AdamW, batch 16, two weight
  decays), reported through training.

Deterministic (seed 0). Prints the figures and the machine.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import machine_line  # noqa: E402


class ResidualUNet(nn.Module):
    """Three levels (c, 2c, 4c channels); input: the neutral face (mean removed) and the median map."""

    def __init__(self, median: torch.Tensor, width: int = 16) -> None:
        super().__init__()
        c = width
        self.register_buffer("median", median)
        self.down1 = nn.Sequential(nn.Conv2d(2, c, 3, padding=1), nn.ReLU(), nn.Conv2d(c, c, 3, padding=1), nn.ReLU())
        self.down2 = nn.Sequential(nn.Conv2d(c, 2 * c, 3, 2, 1), nn.ReLU(), nn.Conv2d(2 * c, 2 * c, 3, padding=1), nn.ReLU())
        self.down3 = nn.Sequential(nn.Conv2d(2 * c, 4 * c, 3, 2, 1), nn.ReLU(), nn.Conv2d(4 * c, 4 * c, 3, padding=1), nn.ReLU())
        self.up2 = nn.Sequential(nn.Conv2d(6 * c, 2 * c, 3, padding=1), nn.ReLU())
        self.up1 = nn.Sequential(nn.Conv2d(3 * c, c, 3, padding=1), nn.ReLU(), nn.Conv2d(c, 1, 3, padding=1))

    def forward(self, neutral: torch.Tensor) -> torch.Tensor:
        x = torch.cat([neutral - neutral.mean(dim=(2, 3), keepdim=True), self.median.expand_as(neutral)], 1)
        a = self.down1(x)
        b = self.down2(a)
        c = self.down3(b)
        u = self.up2(torch.cat([F.interpolate(c, scale_factor=2), b], 1))
        return self.median + self.up1(torch.cat([F.interpolate(u, scale_factor=2), a], 1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("prepared", type=Path, help="a prepared London folder (faceedit-train prepare --kind pairs)")
    parser.add_argument("--model", type=Path, help="a geometry model whose mean face is the frame (default: the bundled model)")
    parser.add_argument("--steps", type=int, default=1500)
    args = parser.parse_args()

    from faceedit.core.compositing import face_mask
    from faceedit.core.models.file import load_model
    from faceedit.core.resources import bundled_model_path
    from trainer.geometry import log_luma_in_reference
    from trainer.manifest import read_prepared

    torch.set_num_threads(2)
    size = 64
    network = load_model(args.model or bundled_model_path(), "cpu", "fp32").network
    reference = network.landmark_reference.numpy().astype(np.float64)
    info, records = read_prepared(args.prepared)
    by_subject: dict[tuple[str, str], dict] = {}
    for record in records:
        by_subject.setdefault((record.split, record.subject), {})[record.label] = record
    pairs: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {"train": [], "test": []}
    for (split, _), faces in sorted(by_subject.items()):
        if "neutral" in faces and "happiness" in faces:
            neutral = log_luma_in_reference(args.prepared, faces["neutral"], info.size, reference, size)
            smile = log_luma_in_reference(args.prepared, faces["happiness"], info.size, reference, size)
            pairs[split].append((neutral, smile - neutral))
    if not pairs["train"] or not pairs["test"]:
        print(f"{args.prepared} needs neutral/smiling pairs in both splits", file=sys.stderr)
        return 1
    mask = torch.from_numpy(face_mask(reference * size, size).astype(np.float32))
    inside = mask > 0.5

    def tensors(split: str) -> tuple[torch.Tensor, torch.Tensor]:
        return (torch.tensor(np.array([n for n, _ in pairs[split]]))[:, None],
                torch.tensor(np.array([d for _, d in pairs[split]]))[:, None])

    def error(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        def centred(x: torch.Tensor) -> torch.Tensor:
            return x - x[..., inside].median(dim=-1).values[..., None, None]

        return ((centred(predicted) - centred(target)).abs() * mask).sum(dim=(1, 2, 3)) / mask.sum()

    train_n, train_d = tensors("train")
    test_n, test_d = tensors("test")
    median = train_d.median(dim=0).values
    print(f"machine: {machine_line()}")
    print(f"pairs: {len(train_n)} training, {len(test_n)} held-out subjects; error = mean |log ratio| over the face")
    print(f"no change:            held-out {error(torch.zeros_like(test_d), test_d).mean():.4f}")
    print(f"median map:           held-out {error(median.expand_as(test_d), test_d).mean():.4f}   "
          f"training {error(median.expand_as(train_d), train_d).mean():.4f}")
    for decay in (1e-3, 1e-2):
        torch.manual_seed(0)
        net = ResidualUNet(median)
        optimiser = torch.optim.AdamW(net.parameters(), 1e-3, weight_decay=decay)
        generator = torch.Generator().manual_seed(0)
        for step in range(1, args.steps + 1):
            batch = torch.randint(0, len(train_n), (16,), generator=generator)
            loss = error(net(train_n[batch]), train_d[batch]).mean()
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            if step % 500 == 0 or step == args.steps:
                with torch.no_grad():
                    print(f"U-Net (decay {decay:g}) step {step:5d}: held-out {error(net(test_n), test_d).mean():.4f}   "
                          f"training {error(net(train_n), train_d).mean():.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
