"""The geometry-plus-appearance edit that every model family can carry (docs/ARCHITECTURE.md,
"Shape, shared by the families").

A family's network draws an *appearance* change of its own (ExprGAN: decode at the target
minus decode at the recognised intensities). With ``geometry`` in its config it also
moves the face's shape: per expression, the mean displacement of the 68 landmarks
(:mod:`.geometry`), learned by ``faceedit-train geometry`` and held in the buffers this
module registers. With ``appearance = "mean_ratio"`` the network's own change is replaced
by a learned per-expression luminance ratio carried onto the face (with
``"warped_network"`` the family draws such ratios per face, from a network trained on
faces warped into the mean face's frame); with ``mouth_interior`` an opening mouth is
painted with a learned interior (:mod:`.mouth`).

The buffers keep the names ExprGAN files have always used (``landmark_shifts``,
``landmark_reference``, ``appearance_log_ratio``, ``mouth_template``, at the network's top
level), so released model files load unchanged. Runs on the model's thread.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import torch
from torch import nn

from faceedit.core.models.contract import Edit
from faceedit.core.models.pixels import LUMA, model_to_float_pixels

APPEARANCES = ("network", "mean_ratio", "warped_network")
"""Where an edit's appearance change comes from: the family's network; the learned mean ratio;
or per-face ratios that a network trained on faces warped into the mean face's frame draws
(ExprGAN only). ExprGAN files call the first "decoder"; :func:`check_shape_options` accepts both."""


class ShapeOptions(Protocol):
    """The config fields a family needs to carry the shared shape edit."""

    image_size: int
    num_expressions: int
    geometry: bool
    appearance: str
    mouth_interior: bool


def uses_mean_ratio(config: ShapeOptions) -> bool:
    return config.appearance == "mean_ratio"


def uses_warped_network(config: ShapeOptions) -> bool:
    return config.appearance == "warped_network"


def uses_ratio_maps(config: ShapeOptions) -> bool:
    """Whether the appearance change is a luminance ratio map per expression (learned, or drawn per face)."""
    return uses_mean_ratio(config) or uses_warped_network(config)


def check_shape_options(config: ShapeOptions, network_appearance: str = "network", warped: bool = False) -> None:
    """``ValueError`` for options that cannot work together (call from a config's ``__post_init__``);
    ``warped``: the family can draw per-face ratio maps in the mean face's frame ("warped_network")."""
    allowed = (network_appearance, "mean_ratio", *(("warped_network",) if warped else ()))
    if config.appearance not in allowed:
        raise ValueError(f"appearance must be one of {', '.join(map(repr, allowed))}, not {config.appearance!r}")
    if uses_ratio_maps(config) and not config.geometry:
        raise ValueError(f"appearance {config.appearance!r} needs geometry (its maps live in the mean face's frame)")
    if config.mouth_interior and not config.geometry:
        raise ValueError("mouth_interior needs geometry (the opening comes from the landmark shifts)")


def register_shape_buffers(module: nn.Module, config: ShapeOptions) -> None:
    """Give ``module`` the buffers its config's shape options need (zero until learned)."""
    if config.geometry:
        # K×68×2: each landmark's mean displacement from neutral to the expression at full
        # intensity, in the frame of the mean neutral face (68×2, crop fractions) fitted on
        # its stable points.
        module.register_buffer("landmark_shifts", torch.zeros(config.num_expressions, 68, 2))
        module.register_buffer("landmark_reference", torch.zeros(68, 2))
    if uses_mean_ratio(config):
        # K×S×S: per expression, the mean log luminance ratio to neutral in the mean face's frame.
        size = config.image_size
        module.register_buffer("appearance_log_ratio", torch.zeros(config.num_expressions, size, size))
    if config.mouth_interior:
        # K×3×rows×columns: per expression, the mouth interior's RGB relative to the face's light level.
        from faceedit.core.models.mouth import TEMPLATE_COLUMNS, TEMPLATE_ROWS

        module.register_buffer("mouth_template", torch.zeros(config.num_expressions, 3, TEMPLATE_ROWS, TEMPLATE_COLUMNS))
        module._register_load_state_dict_pre_hook(_one_interior_for_all)


def _one_interior_for_all(state: dict, prefix: str, *_: object) -> None:
    """Files written before interiors were per expression hold one 3×rows×columns template:
    every expression takes it, so those models edit exactly as they did."""
    key = prefix + "mouth_template"
    template = state.get(key)
    if template is not None and template.dim() == 3:
        count = state[prefix + "landmark_shifts"].shape[0] if prefix + "landmark_shifts" in state else 1
        state[key] = template.unsqueeze(0).repeat(count, 1, 1, 1)


@dataclass(frozen=True)
class ShapeReading:
    """What the shape edit caches per face: warps, appearance maps, the mouth's state."""

    fields: torch.Tensor  # N×K×2×S×S per-expression backward warps, crop px
    appearance_maps: torch.Tensor | None = None  # N×K×S×S log luminance ratios on these faces (mean_ratio)
    images: torch.Tensor | None = None  # N×C×S×S the faces as read (mean_ratio scales them)
    landmarks: np.ndarray | None = None  # N×68×2 crop px (mouth-interior models)
    face_shifts: np.ndarray | None = None  # N×K×68×2 each expression's shifts on these faces, crop px
    light: np.ndarray | None = None  # N, each face's light level (grey levels; mouth.light_level)
    opening: np.ndarray | None = None  # N, how far each face's lips were parted (inner mouth widths)
    # N×K, how much further each expression at full intensity parts these faces' lips (≥ 0):
    # what mixes the expressions' mouth interiors, fixed per reading, so not redone per slider move.
    expression_openings: np.ndarray | None = None


def read_shape(
    module: nn.Module, config: ShapeOptions, images: torch.Tensor, landmarks: torch.Tensor | None,
    face_maps: torch.Tensor | None = None,
) -> ShapeReading | None:
    """Cache each expression's warp of these faces (``landmarks``: N×68×2 crop pixels);
    None for a model without geometry or faces without landmarks (appearance only).

    ``face_maps`` (N×K×S×S log luminance ratios in the mean face's frame): a warped-network
    family's own maps for these faces, carried onto them as the learned mean maps are.
    """
    if not (config.geometry and landmarks is not None):
        return None
    from faceedit.core.models.geometry import face_shape_fields, face_shifts

    shifts = face_shifts(landmarks, module.landmark_shifts, module.landmark_reference)
    ratio = uses_ratio_maps(config)
    maps_in_reference = face_maps if uses_warped_network(config) else getattr(module, "appearance_log_ratio", None)
    fields, maps = face_shape_fields(
        landmarks, shifts, config.image_size, maps_in_reference if ratio else None, module.landmark_reference,
    )
    if not config.mouth_interior:
        return ShapeReading(fields, maps, images if ratio else None)
    from faceedit.core.models.mouth import light_level, opening

    points = landmarks.detach().double().cpu().numpy()
    pixels = [model_to_float_pixels(image) for image in images]
    luma = [p @ np.asarray(LUMA, np.float32) if p.shape[-1] == 3 else p[..., 0] for p in pixels]
    opened = np.array([opening(p) for p in points])
    further = np.array([[max(opening(face + shift) - was, 0.0) for shift in per_face]
                        for face, per_face, was in zip(points, shifts, opened)])
    return ShapeReading(
        fields, maps, images if ratio else None, points, shifts,
        np.array([light_level(l, p) for l, p in zip(luma, points)]), opened, further,
    )


def shape_edit(
    module: nn.Module, config: ShapeOptions, shape: ShapeReading | None, steps: torch.Tensor,
    network_change: Callable[[], torch.Tensor],
) -> Edit:
    """The edit for intensity steps ``steps`` (N×K, target − recognised).

    The appearance change is ``network_change()`` (the family's own; called only when it
    is used) or, for a mean-ratio model, the face's pixels times exp(Σ_k step_k·map_k);
    a geometry model adds the warp Σ_k step_k·field_k, a mouth-interior model the overlay.
    """
    if shape is not None and shape.appearance_maps is not None and shape.images is not None:
        gain = torch.exp(torch.einsum("nk,nkyx->nyx", steps, shape.appearance_maps))[:, None]
        change = (shape.images.float() + 1.0) * (gain - 1.0)
    else:
        change = network_change()
    if shape is None:
        return Edit(image_change=change)
    displacement = torch.einsum("nk,nkcyx->ncyx", steps, shape.fields)
    return Edit(image_change=change, displacement=displacement, overlay=_mouth_overlay(module, config, shape, steps))


def _mouth_overlay(module: nn.Module, config: ShapeOptions, shape: ShapeReading, steps: torch.Tensor) -> torch.Tensor | None:
    """N×4×R×R (RGB in model units, alpha 0…1), or None where no mouth opens further."""
    if (shape.face_shifts is None or shape.landmarks is None or shape.light is None or shape.opening is None
            or shape.expression_openings is None):
        return None
    from faceedit.core.models.mouth import OVERLAY_SCALE, interior_overlay

    size = config.image_size
    templates = module.mouth_template.detach().float().cpu().numpy()
    step_np = steps.detach().double().cpu().numpy()
    overlays = []
    for n in range(step_np.shape[0]):
        moved = shape.landmarks[n] + np.einsum("k,kpc->pc", step_np[n], shape.face_shifts[n])
        template = _interior_for(templates, step_np[n], shape.expression_openings[n])
        overlays.append(interior_overlay(moved, float(shape.opening[n]), template, float(shape.light[n]), size))
    if all(o is None for o in overlays):
        return None
    resolution = OVERLAY_SCALE * size
    stacked = np.stack([np.zeros((resolution, resolution, 4), np.float32) if o is None else o for o in overlays])
    stacked[..., :3] = stacked[..., :3] / 127.5 - 1.0
    return torch.from_numpy(stacked).permute(0, 3, 1, 2).to(steps.device)


def _interior_for(templates: np.ndarray, steps: np.ndarray, expression_openings: np.ndarray) -> np.ndarray:
    """The interior (3×rows×columns) for one face's edit: each expression's template, weighted by
    how far its step opens the mouth (one expression alone gives exactly its own template)."""
    weights = np.maximum(steps, 0.0) * expression_openings
    if weights.sum() <= 0.0:  # nothing opens the mouth (then nothing is painted either)
        return templates[int(np.argmax(steps))]
    return np.einsum("k,kcrt->crt", weights / weights.sum(), templates).astype(np.float32)


def describe_shape(config: ShapeOptions, network_appearance: str) -> str:
    """", geometry + … appearance + mouth interior" for a family's one-line description ('' without geometry)."""
    if not config.geometry:
        return ""
    names = {"mean_ratio": "mean-ratio appearance", "warped_network": f"warped-frame {network_appearance} appearance"}
    text = ", geometry + " + names.get(config.appearance, f"{network_appearance} appearance")
    return text + (" + mouth interior" if config.mouth_interior else "")
