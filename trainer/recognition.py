"""``faceedit-train recognition``: refit a model's recognition head so that sliders start where the face is.

The editor renders every edit relative to the intensities it *recognises* in the face, so
a neutral face read as 0.89 happy cannot be made to smile. This refits only the
recognition head (two linear layers on the encoder's frozen features) on the training
faces of prepared folders, each label weighted equally (expressions7's neutral class is
ten times its disgust class), and reports how the held-out faces are read before and after.
Nothing else in the model changes.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.nn import functional as F

from faceedit.core.errors import FaceeditError
from faceedit.core.expressions import NEUTRAL
from faceedit.core.imageio import load_photo
from faceedit.core.models.file import Provenance, load_model, save_model
from faceedit.core.models.pixels import crop_to_tensor
from trainer.data import intensity_vector
from trainer.manifest import read_prepared

NEUTRAL_BELOW = 0.3
"""A face counts as read neutral when every intensity is below this."""


@dataclass(frozen=True)
class Reading:
    """How a split's faces are read: the share of neutral faces read neutral, and of expressive ones read right."""

    neutral_read_neutral: float
    expression_read_right: float
    faces: int


def _faces(prepared: list[Path], split: str, network: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Trunk features, target intensities and labels of a split's faces."""
    size, channels = network.config.image_size, network.config.image_channels
    features, targets, labels = [], [], []
    for folder in prepared:
        _, records = read_prepared(folder)
        for record in (r for r in records if r.split == split):
            import cv2

            crop = load_photo(folder / record.file).pixels
            if crop.shape[0] != size:
                crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
            with torch.inference_mode():
                features.append(network.encoder.features(crop_to_tensor(crop, channels))[0])
            targets.append(torch.from_numpy(intensity_vector(record)))
            labels.append(record.label)
    if not features:
        raise FaceeditError(f"no {split} faces in {', '.join(map(str, prepared))}")
    return torch.stack(features).clone(), torch.stack(targets), labels


def _reading(head: torch.nn.Module, features: torch.Tensor, targets: torch.Tensor, labels: list[str]) -> Reading:
    with torch.no_grad():
        read = torch.sigmoid(head(features))
    neutral = [i for i, label in enumerate(labels) if label == NEUTRAL]
    expressive = [i for i, label in enumerate(labels) if label != NEUTRAL]
    neutral_ok = float((read[neutral].max(dim=1).values < NEUTRAL_BELOW).float().mean()) if neutral else float("nan")
    right = float((read[expressive].argmax(dim=1) == targets[expressive].argmax(dim=1)).float().mean()) if expressive else float("nan")
    return Reading(neutral_ok, right, len(labels))


def refit_recognition(model_path: Path, prepared: list[Path], output: Path, overwrite: bool, epochs: int = 400,
                      seed: int = 0) -> tuple[Reading, Reading]:
    """Refit the head, write ``output``; the held-out reading before and after."""
    model = load_model(model_path, "cpu", "fp32")
    network = model.network
    if model.info.family.name != "exprgan":
        raise FaceeditError(f"{model_path} is a {model.info.family.title} model; this refits ExprGAN's recognition head")
    train = _faces(prepared, "train", network)
    test = _faces(prepared, "test", network)
    head = network.encoder.recognise
    before = _reading(head, *test)
    torch.manual_seed(seed)
    counts = {label: train[2].count(label) for label in set(train[2])}
    weights = torch.tensor([1.0 / counts[label] for label in train[2]])
    weights = weights / weights.mean()
    head.requires_grad_(True)
    head.train()
    optimiser = torch.optim.Adam(head.parameters(), lr=1e-3, weight_decay=1e-4)
    for _ in range(epochs):
        optimiser.zero_grad()
        loss = (F.binary_cross_entropy_with_logits(head(train[0]), train[1], reduction="none").mean(dim=1) * weights).mean()
        loss.backward()
        optimiser.step()
    head.requires_grad_(False)
    head.eval()
    after = _reading(head, *test)
    p = model.info.provenance
    note = (f"Recognition head refitted by faceedit-train recognition on {len(train[2])} training faces: held-out neutral "
            f"read neutral {before.neutral_read_neutral:.0%} → {after.neutral_read_neutral:.0%}.")
    save_model(output, network, provenance=Provenance(p.data, p.steps, p.commit, p.date, (p.notes + " " if p.notes else "") + note),
               metrics={}, template=model.info.template, half="float16" in model.info.storage_dtype, overwrite=overwrite)
    return before, after


def add_recognition_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", type=Path, help="an ExprGAN model file")
    parser.add_argument("prepared", metavar="PREPARED", type=Path, nargs="+", help="prepared folders (train split fits, test split reports)")
    parser.add_argument("-o", "--output", metavar="OUT", type=Path, required=True, help="the model file to write")
    parser.add_argument("--epochs", type=int, default=400, help="full-batch passes (default 400)")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")


def run_recognition(args: argparse.Namespace) -> int:
    before, after = refit_recognition(args.model, list(args.prepared), args.output, args.overwrite, args.epochs)
    for name, reading in (("before", before), ("after", after)):
        print(f"{name:6s} held-out: neutral read neutral {reading.neutral_read_neutral:.0%}, "
              f"expressions read right {reading.expression_read_right:.0%} ({reading.faces} faces)")
    print(f"wrote {args.output}")
    return 0
