"""A small expression classifier over whole faces: the judge's network, and a model's recogniser.

One definition serves two owners:

- the trainer's *judge* (``trainer.judge``), which scores edited faces for ``evaluate``;
- an ExprGAN model's optional *recogniser* (``ExprGANConfig.recogniser_width``), which
  reads the expression a face shows when it is opened, so the sliders start where the
  face is. It replaces the two-layer head on the encoder's features: that head, on the
  features of an encoder trained to reconstruct, read three of 21 held-out neutral London
  faces as happy. A classifier trained on the faces themselves reads all 21 neutral
  (docs/ARCHITECTURE.md, "Recognition").

The two are separate instances, trained on different data or seeds; sharing the network
only means one place says what it is.

Runs on whatever thread calls it (the engine's worker thread in the app); no state
besides the weights.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from faceedit.core.expressions import EXPRESSIONS, NEUTRAL
from faceedit.core.models.pixels import model_to_luma_levels

CLASSES: tuple[str, ...] = (*EXPRESSIONS, NEUTRAL)
"""What the classifier names: the six expressions in code order, then neutral (index 6)."""

INPUT_SIZE = 64
"""Side of the classifier's greyscale input, in pixels."""


class ExpressionClassifier(nn.Module):
    """Four conv blocks (3×3 conv, batch norm, ReLU, 2×2 max-pool) → linear over :data:`CLASSES`.

    Input: N×1×size×size greyscale faces, each standardised (:func:`classifier_inputs`).
    """

    def __init__(self, size: int = INPUT_SIZE, width: int = 16, classes: int = len(CLASSES)) -> None:
        super().__init__()
        channels = [1, width, 2 * width, 4 * width, 8 * width]
        blocks: list[nn.Module] = []
        for a, b in zip(channels[:-1], channels[1:]):
            blocks += [nn.Conv2d(a, b, 3, padding=1, bias=False), nn.BatchNorm2d(b), nn.ReLU(inplace=True), nn.MaxPool2d(2)]
        self.features = nn.Sequential(*blocks)
        side = size // 16
        # Flatten rather than pool globally: crops are aligned, so *where* a feature is
        # (mouth corners vs brows) is part of the expression.
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.3), nn.Linear(channels[-1] * side * side, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def standardise(grey: torch.Tensor) -> torch.Tensor:
    """N×1×S×S grey levels (0–255) → each image at zero mean and unit spread (spread ≥ 1 grey level).

    Standardising makes colour and greyscale sources, and brighter or darker photos, alike.
    """
    mean = grey.mean(dim=(1, 2, 3), keepdim=True)
    spread = grey.std(dim=(1, 2, 3), keepdim=True, correction=0).clamp_min(1.0)
    return (grey - mean) / spread


def classifier_inputs(images: torch.Tensor, size: int = INPUT_SIZE) -> torch.Tensor:
    """Model-format faces (N×C×S×S in [−1, 1], C = 1 or 3) → the classifier's N×1×size×size input."""
    levels = model_to_luma_levels(images)
    if levels.shape[-1] != size:
        levels = F.interpolate(levels, size=(size, size), mode="area" if levels.shape[-1] > size else "bilinear")
    return standardise(levels)


def read_intensities(classifier: ExpressionClassifier, images: torch.Tensor) -> torch.Tensor:
    """N×K expression intensities of model-format faces: each expression's probability.

    Averaged with the mirrored face (expressions are symmetric enough, and it steadies
    the reading of a single face). Neutral takes the rest of the probability, so a face
    read neutral has every intensity near zero.
    """
    x = classifier_inputs(images).to(next(classifier.parameters()).dtype)
    logits = torch.stack([classifier(x), classifier(x.flip(-1))])
    probabilities = torch.softmax(logits.float(), dim=2).mean(dim=0)
    return probabilities[:, : len(EXPRESSIONS)].to(images.dtype)
