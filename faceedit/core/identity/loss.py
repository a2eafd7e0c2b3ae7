"""Identity features and loss on faceedit's aligned crops, for training (ExprGAN's L_id)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from faceedit.core.alignment import TEMPLATE_5
from faceedit.core.identity.chips import DLIB_CHIP_POINTS_5, CropToChip
from faceedit.core.identity.network import FEATURE_LAYERS, DlibFaceResNet
from faceedit.core.identity.weights import load_dlib_resnet

DEFAULT_LAYERS: tuple[str, ...] = ("alevel2", "alevel1", "embedding")


class IdentityFeatures(nn.Module):
    """Aligned crops (N×3×S×S, RGB in [−1, 1]) → features of dlib's network at ``layers``.

    The network is frozen (requires_grad False) and kept in eval mode; gradients flow to
    the crops. Pass ``network`` to share one; otherwise one is loaded (cached conversion).
    """

    def __init__(
        self,
        layers: Sequence[str] = DEFAULT_LAYERS,
        *,
        network: DlibFaceResNet | None = None,
        template: np.ndarray = TEMPLATE_5,
        cache_dir: Path | str | None = None,
    ) -> None:
        super().__init__()
        unknown = [name for name in layers if name not in FEATURE_LAYERS]
        if unknown or not layers:
            raise ValueError(f"unknown feature layers {unknown}; choose from {FEATURE_LAYERS}")
        self.layers = tuple(layers)
        self.to_chip = CropToChip(template, DLIB_CHIP_POINTS_5)
        self.network = network if network is not None else load_dlib_resnet(cache_dir=cache_dir)
        self.network.requires_grad_(False).eval()

    def train(self, mode: bool = True) -> IdentityFeatures:
        # A parent's .train() must not switch the frozen network (it has no mode-dependent
        # layers today, but a folded batch norm must never become a live one).
        super().train(mode)
        self.network.eval()
        return self

    def forward(self, crops: torch.Tensor) -> list[torch.Tensor]:
        return self.network.features(self.to_chip(crops), self.layers)


class IdentityLoss(nn.Module):
    """L1 between dlib-network features of two batches of aligned crops.

    ``forward(a, b)`` → scalar: Σ_layers weight · mean|f(a) − f(b)|. Both batches are
    N×3×S×S in [−1, 1]; gradients reach whichever inputs require them.
    """

    def __init__(
        self,
        layers: Sequence[str] = DEFAULT_LAYERS,
        weights: Sequence[float] | None = None,
        *,
        network: DlibFaceResNet | None = None,
        template: np.ndarray = TEMPLATE_5,
        cache_dir: Path | str | None = None,
    ) -> None:
        super().__init__()
        self.features = IdentityFeatures(layers, network=network, template=template, cache_dir=cache_dir)
        weights = tuple(float(w) for w in weights) if weights is not None else (1.0,) * len(layers)
        if len(weights) != len(layers):
            raise ValueError(f"{len(weights)} weights for {len(layers)} layers")
        self.weights = weights

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.losses([a], b)[0]

    def losses(self, candidates: Sequence[torch.Tensor], target: torch.Tensor) -> list[torch.Tensor]:
        """One loss per candidate batch against the same ``target``, in one network pass.

        The trainer compares both its reconstructions and its edits with the input faces:
        computing the input's features once saves a quarter of the identity work per step.
        """
        for candidate in candidates:
            if candidate.shape != target.shape:
                raise ValueError(f"batches differ in shape: {tuple(candidate.shape)} vs {tuple(target.shape)}")
        # One pass over every batch: the same arithmetic, fewer kernel launches.
        features = self.features(torch.cat([*candidates, target]))
        n = target.shape[0]
        reference = [f[-n:] for f in features]
        return [
            torch.stack([w * (f[i * n : (i + 1) * n] - r).abs().mean() for w, f, r in zip(self.weights, features, reference)]).sum()
            for i in range(len(candidates))
        ]
