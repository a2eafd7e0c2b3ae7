"""``faceedit-train recognition``: teach a model to read where a face's expression is, so sliders start there.

The editor renders every edit relative to the intensities it *recognises* in the face, so
a neutral face read as 0.89 happy cannot be made to smile. Two ways, each trained on the
training faces of prepared folders with every label weighted equally (expressions7's
neutral class is ten times its disgust class):

- by default, refit the recognition head (two linear layers on the encoder's frozen features);
- ``--network``, give the model a *recogniser*: a small classifier trained on the faces
  themselves (faceedit.core.models.recogniser), which then reads every face the model opens.

Both report how the held-out faces are read before and after. Nothing else in the model changes.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from faceedit.core.atomic import check_writable
from faceedit.core.errors import FaceeditError
from faceedit.core.expressions import NEUTRAL
from faceedit.core.imageio import load_photo
from faceedit.core.models.file import LoadedModel, Provenance, load_model, save_model
from faceedit.core.models.pixels import crop_to_tensor
from faceedit.core.models.recogniser import INPUT_SIZE, classifier_inputs
from trainer.data import intensity_vector
from trainer.judge import JudgeConfig, Progress, train_judge, training_records
from trainer.manifest import LABELS, read_prepared

NEUTRAL_BELOW = 0.3
"""A face counts as read neutral when every intensity is below this."""


@dataclass(frozen=True)
class Reading:
    """How a split's faces are read: the share of neutral faces read neutral, and of expressive ones read right."""

    neutral_read_neutral: float
    expression_read_right: float
    faces: int


def _faces(prepared: list[Path], split: str, size: int, channels: int) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """A split's faces as the model reads them (N×C×S×S in [−1, 1]), their target intensities and labels.

    The training split leaves out any subject that is also in the test split (the judge's leak guard).
    """
    import cv2

    images, targets, labels = [], [], []
    for folder in prepared:
        _, records = read_prepared(folder)
        chosen = training_records(records)[0] if split == "train" else [r for r in records if r.split == split]
        for record in chosen:
            crop = load_photo(folder / record.file).pixels
            if crop.shape[0] != size:
                crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
            images.append(crop_to_tensor(crop, channels)[0])
            targets.append(torch.from_numpy(intensity_vector(record)))
            labels.append(record.label)
    if not images:
        raise FaceeditError(f"no {split} faces in {', '.join(map(str, prepared))}")
    return torch.stack(images), torch.stack(targets), labels


def _reading(read: torch.Tensor, targets: torch.Tensor, labels: list[str]) -> Reading:
    """How well intensities ``read`` (N×K) match the faces' labels."""
    neutral = [i for i, label in enumerate(labels) if label == NEUTRAL]
    expressive = [i for i, label in enumerate(labels) if label != NEUTRAL]
    neutral_ok = float((read[neutral].max(dim=1).values < NEUTRAL_BELOW).float().mean()) if neutral else float("nan")
    right = float((read[expressive].argmax(dim=1) == targets[expressive].argmax(dim=1)).float().mean()) if expressive else float("nan")
    return Reading(neutral_ok, right, len(labels))


@torch.inference_mode()
def _model_reading(network: torch.nn.Module, faces: tuple[torch.Tensor, torch.Tensor, list[str]]) -> Reading:
    images, targets, labels = faces
    return _reading(torch.cat([network.recognise(part) for part in images.split(256)]), targets, labels)


def _load_exprgan(model_path: Path, output: Path, overwrite: bool) -> LoadedModel:
    """The ExprGAN model to work on, once ``output`` is known to be writable (before any training)."""
    check_writable(Path(output), overwrite=overwrite)
    model = load_model(model_path, "cpu", "fp32")
    if model.info.family.name != "exprgan":
        raise FaceeditError(f"{model_path} is a {model.info.family.title} model; recognition is ExprGAN's")
    return model


def _save(model: LoadedModel, network: torch.nn.Module, output: Path, overwrite: bool, note: str) -> None:
    p = model.info.provenance
    save_model(output, network, provenance=Provenance(p.data, p.steps, p.commit, p.date, (p.notes + " " if p.notes else "") + note),
               metrics={}, template=model.info.template, half="float16" in model.info.storage_dtype, overwrite=overwrite)


def refit_recognition(model_path: Path, prepared: list[Path], output: Path, overwrite: bool, epochs: int = 400,
                      seed: int = 0) -> tuple[Reading, Reading]:
    """Refit the encoder's head, write ``output``; the held-out reading before and after."""
    model = _load_exprgan(model_path, output, overwrite)
    network = model.network
    size, channels = network.config.image_size, network.config.image_channels
    train, test = _faces(prepared, "train", size, channels), _faces(prepared, "test", size, channels)
    with torch.inference_mode():
        features = torch.cat([network.encoder.features(part) for part in train[0].split(256)])
    features = features.clone()  # a normal tensor: inference tensors cannot take part in autograd
    before = _model_reading(network, test)
    head = network.encoder.recognise
    torch.manual_seed(seed)
    counts = {label: train[2].count(label) for label in set(train[2])}
    weights = torch.tensor([1.0 / counts[label] for label in train[2]])
    weights = weights / weights.mean()
    head.requires_grad_(True)
    head.train()
    optimiser = torch.optim.Adam(head.parameters(), lr=1e-3, weight_decay=1e-4)
    for _ in range(epochs):
        optimiser.zero_grad()
        loss = (F.binary_cross_entropy_with_logits(head(features), train[1], reduction="none").mean(dim=1) * weights).mean()
        loss.backward()
        optimiser.step()
    head.requires_grad_(False)
    head.eval()
    after = _model_reading(network, test)
    _save(model, network, output, overwrite,
          f"Recognition head refitted by faceedit-train recognition on {len(train[2])} training faces: held-out neutral "
          f"read neutral {before.neutral_read_neutral:.0%} → {after.neutral_read_neutral:.0%}.")
    return before, after


def train_recogniser(model_path: Path, prepared: list[Path], output: Path, overwrite: bool, width: int = 24,
                     steps: int = 1500, seed: int = 1, progress: Progress | None = None) -> tuple[Reading, Reading]:
    """Give the model a recogniser (a classifier over whole faces) trained on the prepared
    folders' training faces; write ``output``; the held-out reading before and after.

    The classifier is the judge's network and training (class-balanced batches, flips,
    small shifts, blur), at its own width and seed, so it is never the judge itself.
    Nothing else in the model changes.
    """
    model = _load_exprgan(model_path, output, overwrite)
    old = model.network
    size, channels = old.config.image_size, old.config.image_channels
    train, test = _faces(prepared, "train", size, channels), _faces(prepared, "test", size, channels)
    before = _model_reading(old, test)
    labels = np.array([LABELS.index(label) for label in train[2]], np.int64)
    inputs = torch.cat([classifier_inputs(part) for part in train[0].split(1024)]).numpy()
    settings = JudgeConfig(size=INPUT_SIZE, width=width, seed=seed, min_steps=steps, max_steps=steps)
    classifier, _, _ = train_judge(inputs, labels, settings, progress=progress, name="recogniser")
    network = model.info.family.build(replace(old.config, recogniser_width=width))
    network.load_state_dict(old.state_dict(), strict=False)
    network.recogniser.load_state_dict(classifier.state_dict())
    network.eval()
    after = _model_reading(network, test)
    _save(model, network, output, overwrite,
          f"Recogniser (width {width}, {steps} steps, seed {seed}) trained by faceedit-train recognition --network on "
          f"{len(train[2])} training faces: held-out neutral read neutral {before.neutral_read_neutral:.0%} → "
          f"{after.neutral_read_neutral:.0%}.")
    return before, after


def add_recognition_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", type=Path, help="an ExprGAN model file")
    parser.add_argument("prepared", metavar="PREPARED", type=Path, nargs="+", help="prepared folders (train split fits, test split reports)")
    parser.add_argument("-o", "--output", metavar="OUT", type=Path, required=True, help="the model file to write")
    parser.add_argument("--network", action="store_true",
                        help="train a separate recogniser on the faces themselves instead of refitting the encoder's head")
    parser.add_argument("--epochs", type=int, default=400, help="head refit: full-batch passes (default 400)")
    parser.add_argument("--width", type=int, default=24, help="--network: the recogniser's first-block channels (default 24)")
    parser.add_argument("--steps", type=int, default=1500, help="--network: training steps of 64 faces (default 1500)")
    parser.add_argument("--seed", type=int, default=1, help="--network: seed (default 1; the judge's is 0)")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")


def run_recognition(args: argparse.Namespace) -> int:
    if args.network:
        if args.width < 1 or args.steps < 1:
            raise FaceeditError("--width and --steps must be positive")
        before, after = train_recogniser(args.model, list(args.prepared), args.output, args.overwrite, args.width,
                                         args.steps, args.seed, progress=print)
    else:
        before, after = refit_recognition(args.model, list(args.prepared), args.output, args.overwrite, args.epochs)
    for name, reading in (("before", before), ("after", after)):
        print(f"{name:6s} held-out: neutral read neutral {reading.neutral_read_neutral:.0%}, "
              f"expressions read right {reading.expression_read_right:.0%} ({reading.faces} faces)")
    print(f"wrote {args.output}")
    return 0
