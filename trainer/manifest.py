"""The prepared-dataset format shared by ``prepare``, ``train`` and ``evaluate``.

A PREPARED folder holds::

    prepare.json     PreparedInfo: format name/version, kind, root, size, template, counts
                     (kind "merged": made by ``faceedit-train merge`` from other PREPARED folders,
                     crops under faces/<set>/, options.sources naming them)
    manifest.jsonl   one FaceRecord per line (one aligned face)
    faces/*.png      aligned RGB crops at ``size`` pixels, made by the app's own pipeline
    skipped.csv      every file that was not used, and why

Crops are aligned with :func:`faceedit.core.alignment.align_face` and the template
recorded in prepare.json, so a model trained on them sees faces exactly as the app
will show them.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from faceedit.core.atomic import write_text_atomic
from faceedit.core.errors import FaceeditError
from faceedit.core.models.recogniser import CLASSES
from faceedit.training.datasets import INFO_NAME  # the engine checks it too: the shared module owns the name

FORMAT_NAME = "faceedit-prepared"
FORMAT_VERSION = 1
LABELS: tuple[str, ...] = CLASSES
"""The six expressions in code order, then neutral (index 6): what the judge and a recogniser name."""

SPLITS: tuple[str, ...] = ("train", "test")

MANIFEST_NAME = "manifest.jsonl"
FACES_DIR = "faces"
SKIPPED_NAME = "skipped.csv"


@dataclass(frozen=True)
class FaceRecord:
    """One aligned face of a prepared dataset."""

    file: str  # relative to the PREPARED folder, e.g. "faces/000123.png"
    source: str  # the original image's path
    label: str  # one of LABELS
    intensity: float  # 1.0 at the peak, 0.0 for neutral; in between for mid-sequence frames
    subject: str  # identity ("P001", a London id, or "" when unknown)
    split: str  # "train" or "test"
    landmarks: list[list[float]]  # 68×2 in crop pixels
    source_landmarks: list[list[float]]  # 68×2 in the source image's pixels
    detected: bool = True  # False: landmarks from the whole frame (a pre-cropped face the detector missed)
    # [width, height] of the source photo as loaded (EXIF orientation applied); None in
    # folders prepared before it was recorded. Says which crop pixels are padding (trainer.coverage).
    source_size: list[int] | None = None

    @property
    def label_index(self) -> int:
        return LABELS.index(self.label)

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, line: str) -> FaceRecord:
        return cls(**json.loads(line))


@dataclass(frozen=True)
class PreparedInfo:
    kind: str  # "oulu", "folders", "pairs", or "merged" (faceedit-train merge)
    root: str
    size: int
    template: list[list[float]]
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # split → label → faces
    options: dict[str, Any] = field(default_factory=dict)
    format: str = FORMAT_NAME
    format_version: int = FORMAT_VERSION


def write_prepared(folder: Path, info: PreparedInfo, records: list[FaceRecord]) -> None:
    """Write prepare.json and manifest.jsonl atomically (the crops are written by prepare)."""
    write_text_atomic(folder / MANIFEST_NAME, "".join(r.to_json() + "\n" for r in records), overwrite=True)
    write_text_atomic(folder / INFO_NAME, json.dumps(asdict(info), indent=2) + "\n", overwrite=True)


def read_prepared(folder: Path | str) -> tuple[PreparedInfo, list[FaceRecord]]:
    """Read a PREPARED folder; a clear :class:`FaceeditError` when it is not one."""
    folder = Path(folder)
    info_path, manifest_path = folder / INFO_NAME, folder / MANIFEST_NAME
    if not info_path.exists() or not manifest_path.exists():
        raise FaceeditError(f"{folder} is not a prepared dataset (no {INFO_NAME} / {MANIFEST_NAME}); run `faceedit-train prepare` first")
    try:
        raw = json.loads(info_path.read_text())
        if raw.get("format") != FORMAT_NAME:
            raise ValueError(f"format {raw.get('format')!r}")
        if int(raw.get("format_version", 0)) > FORMAT_VERSION:
            raise ValueError("made by a newer faceedit")
        info = PreparedInfo(**raw)
        records = [FaceRecord.from_json(line) for line in manifest_path.read_text().splitlines() if line.strip()]
    except (ValueError, TypeError, KeyError) as error:
        raise FaceeditError(f"{folder} has a damaged prepared dataset ({error})") from error
    unknown = {r.label for r in records} - set(LABELS)
    if unknown:
        raise FaceeditError(f"{folder} has unknown labels: {', '.join(sorted(unknown))}")
    return info, records


def count_faces(records: list[FaceRecord]) -> dict[str, dict[str, int]]:
    """Faces per split and label (every split and label present, zeros included)."""
    counts = {split: dict.fromkeys(LABELS, 0) for split in SPLITS}
    for record in records:
        counts.setdefault(record.split, dict.fromkeys(LABELS, 0))[record.label] += 1
    return counts


def counts_table(counts: dict[str, dict[str, int]]) -> list[str]:
    """The label × split table that ``prepare`` and ``merge`` print."""
    width = max(len(label) for label in LABELS)
    lines = [f"  {'':{width}}  " + "  ".join(f"{split:>6}" for split in SPLITS)]
    lines += [f"  {label:{width}}  " + "  ".join(f"{counts[s][label]:>6}" for s in SPLITS) for label in LABELS]
    return lines
