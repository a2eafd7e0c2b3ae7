"""Loss pieces every family's objective uses the same way (one owner, imported by each).

All run on the training thread inside the trainer's autocast; each computes in float32
where bfloat16 would lose the small differences a loss is made of.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.func import functional_call
from torch.nn import functional as F


def adversarial(logits: torch.Tensor, real: bool) -> torch.Tensor:
    """The non-saturating GAN loss: logits judged as all real (``real``) or all fake."""
    logits = logits.float()
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits, target)


def bce(probabilities: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy on probabilities, written out: F.binary_cross_entropy refuses autocast."""
    p = probabilities.float().clamp(1e-6, 1 - 1e-6)
    return -(targets * p.log() + (1 - targets) * (1 - p).log()).mean()


def expression_class(intensities: torch.Tensor) -> torch.Tensor:
    """What a discriminator is told about a face: which expression(s), not how strongly.

    Real faces come labelled at intensity 1 (or 0), edits at any s in (0, 1). Told the
    intensities, a discriminator could call every face with a fractional label fake without
    looking at it, and its gradient would say nothing about the face. So it sees the
    intensities divided by their maximum (neutral: zeros): the papers' one-hot class,
    mixtures kept in ratio.
    """
    peak = intensities.amax(dim=1, keepdim=True)
    return torch.where(peak > 0, intensities / peak.clamp_min(1e-6), torch.zeros_like(intensities))


def total_variation(images: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of neighbouring pixels, down and across (the paper's L_tv)."""
    return (images[..., 1:, :] - images[..., :-1, :]).abs().mean() + (images[..., :, 1:] - images[..., :, :-1]).abs().mean()


def as_rgb(images: torch.Tensor) -> torch.Tensor:
    """The identity network wants RGB: luminance models repeat their one channel."""
    return images if images.shape[1] == 3 else images.expand(-1, 3, -1, -1)


def frozen(module: nn.Module, *inputs: torch.Tensor) -> Any:
    """``module(*inputs)`` with its weights held fixed: gradients reach the inputs only.

    How an objective asks a network that learns from real, labelled faces (a recognition
    head, an encoder) to read generated ones without drifting to agree with whatever the
    generator makes (StarGAN's classifier habit).
    """
    weights = {name: p.detach() for name, p in module.named_parameters()}
    return functional_call(module, weights, inputs)
