"""Training data in memory, and batches that depend only on (seed, step).

A prepared split is loaded once as a uint8 tensor (1,296 Oulu-CASIA peaks at 128 px are
64 MB). Every random choice of a step — which faces, flips, edit targets, noise — comes
from a generator seeded by (seed, step), drawn for the whole global batch and sliced by
rank. So a resumed run sees exactly what an uninterrupted one would have seen, and N
processes of batch B see the same faces as one process of batch N·B.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import cv2
import numpy as np
import torch

from faceedit.core.errors import FaceeditError
from faceedit.core.expressions import EXPRESSIONS
from faceedit.core.imageio import load_photo
from faceedit.core.models.pixels import rgb_uint8_to_luma_uint8, uint8_to_model
from trainer.manifest import LABELS, FaceRecord, read_prepared



@dataclass(frozen=True)
class FaceSet:
    """One split in memory: images N×C×S×S uint8, labels N (index into LABELS), targets N×6."""

    images: torch.Tensor
    labels: torch.Tensor
    intensities: torch.Tensor  # the six-intensity vector each face shows (neutral: zeros)
    records: tuple[FaceRecord, ...]
    partners: torch.Tensor | None = None  # N: a face of the same subject with another label, or −1

    def __post_init__(self) -> None:
        if self.partners is None:
            object.__setattr__(self, "partners", partner_indices(self.records))

    def __len__(self) -> int:
        return int(self.images.shape[0])

    @cached_property
    def paired_indices(self) -> torch.Tensor:
        """Indices of the faces that have a partner (computed once, not every step)."""
        return torch.nonzero(self.partners >= 0).flatten()

    @cached_property
    def label_members(self) -> tuple[tuple[int, torch.Tensor], ...]:
        """(label, indices of its faces) for every label present, in label order (computed once)."""
        return tuple((label, torch.nonzero(self.labels == label).flatten()) for label in torch.unique(self.labels).tolist())


def intensity_vector(record: FaceRecord) -> np.ndarray:
    """The six intensities a labelled face shows: its expression at its intensity."""
    vector = np.zeros(len(EXPRESSIONS), np.float32)
    if record.label in EXPRESSIONS:
        vector[EXPRESSIONS.index(record.label)] = record.intensity
    return vector


def partner_indices(records: tuple[FaceRecord, ...]) -> torch.Tensor:
    """For each face, another face of the same known subject with a different label (−1: none).

    These are the identity-paired faces (London neutral ↔ smiling, an Oulu-CASIA subject's
    neutral ↔ peak) that let the trainer supervise an edit pixel by pixel.
    """
    by_subject: dict[str, list[int]] = {}
    for index, record in enumerate(records):
        if record.subject:
            by_subject.setdefault(record.subject, []).append(index)
    partners = torch.full((len(records),), -1, dtype=torch.long)
    for indices in by_subject.values():
        for i in indices:
            other = next((j for j in indices if records[j].label != records[i].label), None)
            if other is not None:
                partners[i] = other
    return partners


def load_split(prepared: Path, split: str, channels: int = 3, size: int | None = None) -> FaceSet:
    """Load every face of ``split`` ("train" or "test") of a prepared folder.

    ``size`` smaller than the prepared crops (by a whole factor) downscales them by area
    averaging, which is what aligning at that size would give; larger is refused.
    """
    info, records = read_prepared(prepared)
    size = info.size if size is None else size
    if size > info.size or info.size % size:
        raise FaceeditError(f"{prepared} holds {info.size}-pixel faces but the model needs {size}; prepare with --size {size}")
    chosen = tuple(r for r in records if r.split == split)
    if not chosen:
        return FaceSet(torch.zeros(0, channels, size, size, dtype=torch.uint8), torch.zeros(0, dtype=torch.long),
                       torch.zeros(0, len(EXPRESSIONS)), ())
    pixels = np.stack([_at_size(load_photo(prepared / r.file).pixels, size) for r in chosen])
    images = torch.from_numpy(pixels).permute(0, 3, 1, 2).contiguous()
    if channels == 1:
        images = rgb_uint8_to_luma_uint8(images)
    labels = torch.tensor([LABELS.index(r.label) for r in chosen], dtype=torch.long)
    intensities = torch.from_numpy(np.stack([intensity_vector(r) for r in chosen]))
    return FaceSet(images, labels, intensities, chosen)


def _at_size(pixels: np.ndarray, size: int) -> np.ndarray:
    if pixels.shape[0] == size:
        return pixels
    return cv2.resize(pixels, (size, size), interpolation=cv2.INTER_AREA)


@dataclass(frozen=True)
class Batch:
    """What one process trains on in one step (all on the training device)."""

    images: torch.Tensor  # B×C×S×S float in [−1, 1]
    intensities: torch.Tensor  # B×6, what the real faces show
    targets: torch.Tensor  # B×6, the edit asked for (one expression, sometimes two mixed)
    noise_z: torch.Tensor  # B×z_dim ~ U(−1, 1): the prior for D_z and the controller stage
    labels: torch.Tensor  # B, index into LABELS (neutral included)
    paired: torch.Tensor  # B bool: the face has a partner (same subject, another label)
    partner_images: torch.Tensor  # B×C×S×S, the partner (or the face itself where none), flipped alike
    partner_intensities: torch.Tensor  # B×6


def step_generator(seed: int, step: int) -> torch.Generator:
    generator = torch.Generator()
    generator.manual_seed((seed * 1_000_003 + step) % (2**63))
    return generator


def edit_targets(count: int, mix_probability: float, generator: torch.Generator) -> torch.Tensor:
    """Random edit targets: one expression at s ~ U(0, 1), mixed with a second one sometimes."""
    k = len(EXPRESSIONS)
    targets = torch.zeros(count, k)
    first = torch.randint(k, (count,), generator=generator)
    targets[torch.arange(count), first] = torch.rand(count, generator=generator)
    mix = torch.rand(count, generator=generator) < mix_probability
    second = (first + torch.randint(1, k, (count,), generator=generator)) % k
    second_values = torch.rand(count, generator=generator)
    targets[torch.arange(count)[mix], second[mix]] = second_values[mix]
    return targets


def sample_faces(
    faces: FaceSet, count: int, generator: torch.Generator, *, balanced: bool = False, paired_fraction: float = 0.0
) -> torch.Tensor:
    """Indices of ``count`` faces: uniform over faces, or over labels first (``balanced``).

    ``paired_fraction`` of them (rounded) are drawn from the faces that have a partner, so a
    few hundred identity pairs among thousands of unpaired faces still teach every batch.
    """
    paired = faces.paired_indices
    from_pairs = int(round(count * paired_fraction)) if len(paired) else 0
    if balanced:
        groups = faces.label_members
        group = torch.randint(len(groups), (count - from_pairs,), generator=generator)
        index = torch.empty(count - from_pairs, dtype=torch.long)
        for position, (_, members) in enumerate(groups):
            where = group == position
            index[where] = members[torch.randint(len(members), (int(where.sum()),), generator=generator)]
    else:
        index = torch.randint(len(faces), (count - from_pairs,), generator=generator)
    chosen_pairs = paired[torch.randint(max(len(paired), 1), (from_pairs,), generator=generator)] if from_pairs else index[:0]
    return torch.cat([index, chosen_pairs])


def batch_at(
    faces: FaceSet, step: int, *, batch_size: int, seed: int, z_dim: int, mix_probability: float,
    flips: bool, rank: int = 0, world: int = 1, device: torch.device | str = "cpu",
    balanced: bool = False, paired_fraction: float = 0.0,
) -> Batch:
    """The batch of process ``rank`` at ``step``: a pure function of its arguments."""
    if len(faces) == 0:
        raise FaceeditError("the training split is empty")
    generator = step_generator(seed, step)
    total = batch_size * world
    index = sample_faces(faces, total, generator, balanced=balanced, paired_fraction=paired_fraction)
    # Pair rows are drawn last; shuffle so every process's slice gets its share.
    index = index[torch.randperm(total, generator=generator)]
    flip = torch.rand(total, generator=generator) < 0.5
    targets = edit_targets(total, mix_probability, generator)
    noise = torch.rand(total, z_dim, generator=generator) * 2 - 1
    mine = slice(rank * batch_size, (rank + 1) * batch_size)
    chosen = index[mine]
    partner = faces.partners[chosen]
    paired = partner >= 0
    partner = torch.where(paired, partner, chosen)
    images = uint8_to_model(faces.images[chosen])
    partner_images = uint8_to_model(faces.images[partner])
    if flips:
        flipped = flip[mine]
        images[flipped] = images[flipped].flip(-1)
        partner_images[flipped] = partner_images[flipped].flip(-1)

    def on_device(t: torch.Tensor) -> torch.Tensor:
        return t.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)

    return Batch(
        on_device(images),
        faces.intensities[chosen].to(device),
        targets[mine].to(device),
        noise[mine].to(device),
        faces.labels[chosen].to(device),
        paired.to(device),
        on_device(partner_images),
        faces.intensities[partner].to(device),
    )
