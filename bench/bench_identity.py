"""Time the torch port of dlib's face-recognition ResNet on a batch of chips.

    .venv/bin/python bench/bench_identity.py [--batch 32] [--runs 10] [--device cpu]

Prints median and 5–95 % range of: forward (no grad), forward + backward to the input
(frozen weights: the identity-loss case), and IdentityLoss on two batches of aligned
128 px crops. Random inputs: the speed does not depend on the pixels. Weights are loaded
through the cache (a temporary one unless --cache-dir is given).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))  # the repo, when not installed
from machine import machine_line, time_it  # noqa: E402

from faceedit.core.identity import IdentityLoss, load_dlib_resnet  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--cache-dir", type=Path, default=None)
    args = parser.parse_args()

    device = torch.device(args.device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    with tempfile.TemporaryDirectory() as scratch:
        network = load_dlib_resnet(cache_dir=args.cache_dir or scratch, device=device)
    generator = torch.Generator().manual_seed(0)
    chips = (torch.rand(args.batch, 3, 150, 150, generator=generator) * 255).to(device)
    crops_a = (torch.rand(args.batch, 3, 128, 128, generator=generator) * 2 - 1).to(device)
    crops_b = (torch.rand(args.batch, 3, 128, 128, generator=generator) * 2 - 1).to(device)
    loss_fn = IdentityLoss(network=network)

    def forward() -> None:
        with torch.no_grad():
            network(chips)
        sync()

    def forward_backward() -> None:
        x = chips.clone().requires_grad_(True)
        network(x).square().sum().backward()
        sync()

    def identity_loss() -> None:
        x = crops_a.clone().requires_grad_(True)
        loss_fn(x, crops_b).backward()
        sync()

    load = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    print(f"machine: {machine_line()}; load average {load}")
    if device.type == "cuda":
        print(f"device: {torch.cuda.get_device_name(device)}")
    print(f"dlib face ResNet, batch {args.batch} chips 150×150, {args.runs} runs after 2 warm-up runs")
    print(f"  forward                                   {time_it(forward, runs=args.runs)}")
    print(f"  forward + backward (to input)             {time_it(forward_backward, runs=args.runs)}")
    print(f"  IdentityLoss, 2×{args.batch} crops 128 px, fwd + bwd  {time_it(identity_loss, runs=args.runs)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
