"""What every model family provides, and the typed results the editor consumes.

A *model family* (ExprGAN today; the families of the other source papers later) is one
network that can read a face and render it at other expression intensities. The editor,
the engine, the GUI, the CLI and batch export know only this contract; they never touch a
family's layers. Adding a family or a new kind of output ("head") touches this package
(and the trainer, which trains it), nothing else — docs/ARCHITECTURE.md, "Where to add".

A family's network is an ``nn.Module`` that implements :class:`FaceModel`:

- :meth:`FaceModel.read` runs once per face: it returns a :class:`FaceReading` with the
  recognised intensities and whatever the family caches to make later renders cheap.
- :meth:`FaceModel.render` runs once per slider state: it returns an :class:`Edit`, the
  change from the face as read to the face at the asked intensities, in crop space.

Both run on the thread that owns the model, inside ``torch.inference_mode``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol, Self, runtime_checkable

import torch
from torch import nn


class FamilyConfig(Protocol):
    """What the editor and the model file need of any family's architecture config."""

    image_size: int
    image_channels: int
    num_expressions: int

    def to_dict(self) -> dict: ...


class ConfigDict:
    """``to_dict`` / ``from_dict`` for a family's frozen config dataclass (mix in first).

    A model file stores the config as a plain dict; a key this version does not know is
    refused (``ValueError``) rather than dropped, so a newer file fails with a reason.
    """

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]  # every subclass is a dataclass

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Self:
        unknown = set(values) - set(cls.__dataclass_fields__)  # type: ignore[attr-defined]
        if unknown:
            raise ValueError(f"unknown model settings: {', '.join(sorted(unknown))}")
        return cls(**values)


def check_image_options(config: FamilyConfig) -> None:
    """The checks every family's config shares (raises ValueError): ``image_size`` a power of
    two ≥ 16 (every family halves it down to 4×4), ``width`` in (0, 4], 1 or 3 image channels."""
    size = config.image_size
    if size < 16 or size & (size - 1):
        raise ValueError(f"image_size must be a power of two ≥ 16, not {size}")
    width = getattr(config, "width", 1.0)
    if not 0.0 < width <= 4.0:
        raise ValueError(f"width must be in (0, 4], not {width}")
    if config.image_channels not in (1, 3):
        raise ValueError(f"image_channels must be 1 or 3, not {config.image_channels}")


def channels_name(config: FamilyConfig) -> str:
    """"RGB" or "luminance", for a family's one-line description."""
    return "RGB" if config.image_channels == 3 else "luminance"


@dataclass(frozen=True)
class FaceReading:
    """A model's reading of N aligned faces. Families subclass it to cache their own state."""

    recognised: torch.Tensor  # N×K in [0, 1], the expression intensities the model reads

    @property
    def reconstruction(self) -> torch.Tensor | None:
        """N×C×S×S: the network's own rendering of the faces as read, where the family makes
        one (``faceedit-train evaluate`` scores it against the input); None otherwise."""
        return None


@dataclass(frozen=True)
class Edit:
    """What a model renders for a target expression, in crop space; every part is optional.

    - ``image_change``: N×C×S×S, added to the face, in model units (:mod:`.pixels`: one
      unit is 127.5 grey levels; C = 1 moves luminance).
    - ``displacement``: N×2×S×S, a backward warp in crop pixels: output pixel (x, y) takes
      the face's pixel at (x + dx, y + dy). Applied after ``image_change``, which is in the
      face's own (unwarped) frame, so that the change moves with the shape.
    - ``mask``: N×1×S×S in [0, 1], where the model wants its edit to apply; the editor
      multiplies it with its own feathered face mask (pixels outside the face never change).
    - ``overlay``: N×4×R×R over the same crop at any resolution R (a multiple of S): RGB
      in model units and a coverage alpha in [0, 1], painted over the result *after* the
      warp, for what the photo has no pixels for (the inside of a mouth that opens).
      Alpha 0 leaves a pixel as the warp made it.

    An edit with no parts changes nothing.
    """

    image_change: torch.Tensor | None = None
    displacement: torch.Tensor | None = None
    mask: torch.Tensor | None = None
    overlay: torch.Tensor | None = None

    @property
    def is_empty(self) -> bool:
        return self.image_change is None and self.displacement is None and self.overlay is None


@runtime_checkable
class FaceModel(Protocol):
    """The inference side of a model family (an ``nn.Module``)."""

    config: FamilyConfig

    def read(self, images: torch.Tensor, landmarks: torch.Tensor | None = None,
             starting: torch.Tensor | None = None) -> FaceReading:
        """Read N×C×S×S model images (:mod:`.pixels`) once; cache what renders need.

        ``landmarks`` (N×68×2, crop pixels) are the faces' dlib points, for families that
        move the face's shape; a family that needs none ignores them. ``starting`` (N×K in
        [0, 1]) reads the faces as showing these intensities instead of the recognised
        ones (a person's correction, e.g. "this face is neutral"): the reading's
        ``recognised`` is ``starting``, and every edit is relative to it.
        """
        ...

    def render(self, reading: FaceReading, intensities: torch.Tensor) -> Edit:
        """The edit that moves the faces of ``reading`` to ``intensities`` (N×K in [0, 1]).

        At the recognised intensities the edit must change nothing (an all-zero change):
        the editor relies on it for a slider that is back where it started.
        """
        ...


@dataclass(frozen=True)
class ModelFamily:
    """A family's entry in the registry and in the model-file format (its ``family`` field)."""

    name: str  # the model file's "family" value and the trainer's --family choice
    title: str  # shown to people: "ExprGAN"
    paper: str  # the source document it comes from
    config_from_dict: Callable[[dict], FamilyConfig]
    build: Callable[[FamilyConfig], nn.Module]  # an untrained network implementing FaceModel
    describe: Callable[[FamilyConfig], str]  # one line: size, channels, width
