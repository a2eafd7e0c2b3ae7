"""``faceedit-train evaluate``: how well a model edits held-out faces, measured through the app's editor.

Every edit goes through :class:`faceedit.core.editor.ExpressionEditor` exactly as the app
does it (encode once, then the masked change pasted onto the input), on the TEST split of
a prepared dataset. Numbers written to ``metrics.json``:

- ``expression_accuracy``: the judge (:mod:`trainer.judge`, trained on the training split
  only) names the target expression of faces edited to that expression at 1.0 (others 0).
  Edited faces are the test split's neutral ones where it has them, else all test faces;
  with ``edit_from`` (``--edit-from PATH``) only test faces whose source photo lies under
  PATH are edited (the judge and its accuracy still use the whole splits).
- ``identity_distance``: dlib descriptor distance (torch port) between a face and its
  edits at 1.0. Measured on the *source photo* (the app's real path: the face aligned from
  the photo with ``record.source_landmarks``, the change pasted back at full resolution,
  both chips cut with the same landmarks) where every source photo is readable, else on
  the crops; ``identity_space`` says which. dlib calls < 0.6 the same person.
- ``reconstruction``: PSNR/SSIM of the decoder's output at the recognised intensities
  against the input crop (the app's output there is the input itself, bit for bit, so this
  measures the model, not the app).
- ``monotonicity``: Spearman correlation between slider level and the judge's probability
  of the target expression, per face, averaged.
- ``sharpness`` / ``saturation``: variance of the Laplacian inside the face mask without
  the mouth (an opening mouth adds edges of its own) and mean HSV saturation inside the
  face mask, before and after the edits at 1.0 (do edits blur or wash out colour?).
- ``colour_per_face``: face by face, the worst change of mean saturation and of
  (saturation-weighted, circular) mean hue over every edit above 0; the fraction of faces
  within ±10 % and ±5° at every intensity.

Expressions the judge never saw in training get ``null`` accuracy and monotonicity: a
judge cannot vouch for a class it does not know.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from torch.nn import functional as F

from faceedit.core.alignment import already_aligned
from faceedit.core.atomic import write_text_atomic
from faceedit.core.models.file import LoadedModel, load_model
from faceedit.core.models.pixels import model_to_float_pixels, rgb_to_luma
from faceedit.core.editor import EncodedFace, ExpressionEditor
from faceedit.core.errors import FaceeditError, OutputError, PhotoError
from faceedit.core.expressions import EXPRESSIONS, NEUTRAL, NEUTRAL_START, ExpressionTargets
from faceedit.core.faces import DetectedFace
from faceedit.core.imageio import load_photo, save_photo
from trainer.judge import Judge, JudgeConfig, load_crop, load_or_train_judge
from trainer.manifest import LABELS, FaceRecord, PreparedInfo, read_prepared
from trainer.recognition import NEUTRAL_BELOW

EVAL_FORMAT = "faceedit-evaluation"
EVAL_VERSION = 1
METRICS_NAME = "metrics.json"
SHEET_NAME = "contact-sheet.png"
DEFAULT_LEVELS: tuple[float, ...] = (0.0, 0.25, 0.5, 0.75, 1.0)
SHEET_LEVELS: tuple[float, ...] = (0.5, 1.0)
SHEET_ROWS = 6
SHEET_MAX_WIDTH = 2000
SHEET_GAP = 2
SHEET_HEADER = 36
SHEET_FOOTER = 20
DEFAULT_MAX_FACES = 100  # edited faces (the costly part); judge accuracy and reconstruction use every test face
PSNR_CAP_DB = 100.0  # identical images have infinite PSNR; keep the number finite
SAME_PERSON = 0.6  # dlib's threshold (faceedit.core.identity.SAME_PERSON_THRESHOLD)
# ITU-R BT.601, as the editor uses for luminance models.

Progress = Callable[[str], None]


# --------------------------------------------------------------------------- metric helpers


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB (capped at :data:`PSNR_CAP_DB` for identical images)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")
    mse = float(np.mean((a - b) ** 2))
    floor = data_range**2 * 10 ** (-PSNR_CAP_DB / 10)
    return float(10.0 * math.log10(data_range**2 / max(mse, floor)))


def _gaussian_window(size: int, sigma: float) -> torch.Tensor:
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(x**2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).view(1, 1, size, size)


def ssim(a: np.ndarray, b: np.ndarray, data_range: float = 255.0, window: int = 11, sigma: float = 1.5) -> float:
    """Structural similarity (Wang et al. 2004): 11×11 Gaussian window (σ 1.5), K1 0.01, K2 0.03.

    Statistics over 'valid' windows only (as the authors' reference code); colour images
    are scored per channel and averaged. ``a``, ``b``: H×W or H×W×C, same shape.
    """
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")
    if a.ndim == 2:
        a, b = a[:, :, None], b[:, :, None]
    window = min(window, a.shape[0], a.shape[1])
    kernel = _gaussian_window(window, sigma)
    x = torch.from_numpy(a).permute(2, 0, 1).unsqueeze(1)  # C×1×H×W: channels as a batch
    y = torch.from_numpy(b).permute(2, 0, 1).unsqueeze(1)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mx, my = F.conv2d(x, kernel), F.conv2d(y, kernel)
    sxx = F.conv2d(x * x, kernel) - mx * mx
    syy = F.conv2d(y * y, kernel) - my * my
    sxy = F.conv2d(x * y, kernel) - mx * my
    score = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return float(score.mean())


def _ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing their average rank."""
    values = np.asarray(values, np.float64)
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values), np.float64)
    sorted_values = values[order]
    start = 0
    while start < len(values):
        end = start
        while end + 1 < len(values) and sorted_values[end + 1] == sorted_values[start]:
            end += 1
        ranks[order[start : end + 1]] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman rank correlation (ties averaged). 0 when either side does not vary.

    Zero rather than undefined: a slider that changes nothing the judge can see has no
    monotone effect, and the average over faces must stay a number.
    """
    rx, ry = _ranks(np.asarray(x)), _ranks(np.asarray(y))
    if len(rx) != len(ry) or len(rx) < 2:
        raise ValueError("spearman needs two sequences of the same length ≥ 2")
    rx, ry = rx - rx.mean(), ry - ry.mean()
    denominator = math.sqrt(float((rx**2).sum() * (ry**2).sum()))
    return float((rx * ry).sum() / denominator) if denominator > 0 else 0.0


def _grey(image: np.ndarray) -> np.ndarray:
    return image if image.ndim == 2 else cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)


def laplacian_variance(image: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Variance of the 3×3 Laplacian of the grey image, over ``mask`` pixels (all if None)."""
    lap = cv2.Laplacian(_grey(image).astype(np.float32), cv2.CV_32F)
    values = lap[mask] if mask is not None else lap.ravel()
    return float(values.var()) if values.size else 0.0


def mean_saturation(image: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean HSV saturation in [0, 1] of an RGB uint8 image, over ``mask`` pixels (all if None)."""
    saturation = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2HSV)[:, :, 1].astype(np.float64) / 255.0
    values = saturation[mask] if mask is not None else saturation.ravel()
    return float(values.mean()) if values.size else 0.0


def mean_hue(image: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Circular mean HSV hue in degrees of an RGB uint8 image over ``mask``, weighted by saturation."""
    hsv = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2HSV_FULL).astype(np.float64)
    angle = hsv[:, :, 0] / 256.0 * 2 * np.pi
    weight = hsv[:, :, 1] / 255.0
    if mask is not None:
        angle, weight = angle[mask], weight[mask]
    return float(np.degrees(np.arctan2((weight * np.sin(angle)).sum(), (weight * np.cos(angle)).sum())))


def mouth_excluded(mask: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """``mask`` without the mouth (the hull of the lips, grown by a fifth of its width): the
    face region whose sharpness an edit must keep (an opening mouth adds edges of its own)."""
    lips = np.asarray(landmarks, np.float64)[48:68]
    centre = lips.mean(axis=0)
    grown = centre + (lips - centre) * 1.4
    mouth = np.zeros(mask.shape, np.uint8)
    cv2.fillConvexPoly(mouth, cv2.convexHull(np.round(grown).astype(np.int32)), 1)
    return mask & (mouth == 0)


SATURATION_TOLERANCE = 0.10
HUE_TOLERANCE = 5.0
"""Issue targets for colour, per face: saturation within ±10 %, hue within ±5°, at every intensity."""


@dataclass(frozen=True)
class ColourPerFace:
    """Colour kept face by face (not averaged): the worst face, and how many stay within the targets."""

    worst_saturation_change: float  # max over faces and renders of |saturation ratio − 1|
    worst_hue_shift: float  # degrees, max over faces and renders of |hue shift|
    faces_within: float  # fraction of faces whose every render stays within both tolerances

    def to_json(self) -> dict[str, float | None]:
        return {
            "worst_saturation_change": _round(self.worst_saturation_change),
            "worst_hue_shift_degrees": _round(self.worst_hue_shift),
            "faces_within": _round(self.faces_within),
            "saturation_tolerance": SATURATION_TOLERANCE,
            "hue_tolerance_degrees": HUE_TOLERANCE,
        }


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class NeutralReading:
    """How the model reads the edited faces that are neutral: where their sliders start."""

    faces: int
    read_neutral: float  # share with every recognised intensity below NEUTRAL_BELOW
    misread: dict[str, float]  # subject (or file) → its highest recognised intensity, for those that are not

    def to_json(self) -> dict[str, Any]:
        return {"faces": self.faces, "read_neutral": _round(self.read_neutral), "below": NEUTRAL_BELOW,
                "misread": {k: _round(v, 3) for k, v in self.misread.items()}}


@dataclass(frozen=True)
class PerExpression:
    """One number per expression (None where it cannot be measured) and their mean."""

    values: dict[str, float | None]
    mean: float | None

    @classmethod
    def from_lists(cls, samples: dict[str, list[float]], known: Sequence[str] = EXPRESSIONS) -> PerExpression:
        values = {e: (float(np.mean(samples[e])) if e in known and samples.get(e) else None) for e in EXPRESSIONS}
        measured = [v for v in values.values() if v is not None]
        return cls(values, float(np.mean(measured)) if measured else None)

    def to_json(self) -> dict[str, float | None]:
        return {"mean": _round(self.mean), **{k: _round(v) for k, v in self.values.items()}}


@dataclass(frozen=True)
class BeforeAfter:
    """A face-region statistic of the input faces and of their edits at 1.0."""

    before: float
    after: float

    @property
    def ratio(self) -> float:
        return self.after / self.before if self.before > 0 else 1.0

    def to_json(self) -> dict[str, float | None]:
        return {"before": _round(self.before), "after": _round(self.after), "ratio": _round(self.ratio)}


@dataclass(frozen=True)
class JudgeSummary:
    """The judge and how far to trust it: its accuracy on the test split's real faces."""

    classes: tuple[str, ...]
    train_counts: dict[str, int]
    test_faces: int  # real test faces of classes the judge knows
    test_accuracy: float | None
    balanced_accuracy: float | None  # mean of per-class accuracies
    per_class: dict[str, float]
    cached: bool
    steps: int
    train_seconds: float


@dataclass(frozen=True)
class ModelSummary:
    path: str
    name: str
    image_size: int
    width: float
    image_channels: int
    parameters: int
    storage_dtype: str
    trained_on: str
    steps: int
    date: str
    commit: str


@dataclass(frozen=True)
class EvaluationCounts:
    train_faces: int
    test_faces: int  # test faces read (judge accuracy, reconstruction)
    edited_faces: int  # test faces edited (expression accuracy, identity, monotonicity, sharpness)
    edited_from: str  # "neutral": the test split's neutral faces; "all": every test face
    test_labels: dict[str, int]
    renders: int
    edited_under: str | None = None  # --edit-from: only test faces whose source lies under this folder
    edited_from_neutral: bool = False  # --from-neutral: edits start at zero, not at the recognised intensities
    test_faces_under: int | None = None  # how many test faces lie under it (edited ones are chosen from these)


@dataclass(frozen=True)
class EvaluationResult:
    """Everything ``evaluate`` measured; ``contact_sheet`` is the PNG's pixels."""

    model: ModelSummary
    prepared: str
    device: str
    levels: tuple[float, ...]
    counts: EvaluationCounts
    judge: JudgeSummary
    expression_accuracy: PerExpression
    identity_distance: PerExpression
    identity_same_person_rate: float
    identity_space: str  # "photo", "crop" or "mixed"
    psnr: float | None  # None: the family renders no reconstruction
    ssim: float | None
    monotonicity: PerExpression
    sharpness: BeforeAfter
    saturation: BeforeAfter
    template_matches: bool  # the model's alignment template is the prepared crops' one
    seconds: float
    contact_sheet: np.ndarray = field(repr=False, compare=False)
    colour: ColourPerFace | None = None  # None when no face was edited
    # What the edits at 1.0 were read as: expression → label → fraction of edited faces
    # (where accuracy is low, this says whether they look neutral or like another expression).
    read_as: dict[str, dict[str, float]] = field(default_factory=dict)
    neutral_reading: NeutralReading | None = None  # None when no edited face is neutral

    def summary(self) -> dict[str, float]:
        """Flat name → number, for a model file's ``metrics`` (unmeasurable values left out)."""
        values = {
            "expression_accuracy": self.expression_accuracy.mean,
            "identity_distance": self.identity_distance.mean,
            "identity_same_person_rate": self.identity_same_person_rate,
            "psnr": self.psnr,
            "ssim": self.ssim,
            "monotonicity": self.monotonicity.mean,
            "sharpness_ratio": self.sharpness.ratio,
            "saturation_ratio": self.saturation.ratio,
            "judge_test_accuracy": self.judge.test_accuracy,
            "neutral_read_neutral": None if self.neutral_reading is None else self.neutral_reading.read_neutral,
        }
        return {k: float(v) for k, v in values.items() if v is not None}

    def to_json(self) -> dict[str, Any]:
        return {
            "format": EVAL_FORMAT,
            "format_version": EVAL_VERSION,
            "summary": {k: _round(v) for k, v in self.summary().items()},
            "expression_accuracy": self.expression_accuracy.to_json(),
            "expression_read_as": {e: {k: _round(v) for k, v in labels.items()} for e, labels in self.read_as.items()},
            "neutral_reading": None if self.neutral_reading is None else self.neutral_reading.to_json(),
            "identity_distance": {
                **self.identity_distance.to_json(),
                "same_person_rate": _round(self.identity_same_person_rate),
                "threshold": SAME_PERSON,
                "space": self.identity_space,
            },
            "reconstruction": {"psnr": _round(self.psnr), "ssim": _round(self.ssim)},
            "monotonicity": {**self.monotonicity.to_json(), "levels": list(self.levels)},
            "sharpness": self.sharpness.to_json(),
            "saturation": self.saturation.to_json(),
            "colour_per_face": None if self.colour is None else self.colour.to_json(),
            "judge": {**asdict(self.judge), **{
                "test_accuracy": _round(self.judge.test_accuracy),
                "balanced_accuracy": _round(self.judge.balanced_accuracy),
                "per_class": {k: _round(v) for k, v in self.judge.per_class.items()},
            }},
            "counts": asdict(self.counts),
            "model": asdict(self.model),
            "prepared": self.prepared,
            "template_matches": self.template_matches,
            "device": self.device,
            "seconds": round(self.seconds, 2),
        }


def _round(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(float(value), digits)


# --------------------------------------------------------------------------- per-face work


@dataclass
class _Accumulator:
    """Running sums over faces; turned into an :class:`EvaluationResult` at the end."""

    judge_hits: dict[str, list[float]] = field(default_factory=lambda: {c: [] for c in LABELS})
    accuracy: dict[str, list[float]] = field(default_factory=lambda: {e: [] for e in EXPRESSIONS})
    read_as: dict[str, list[str]] = field(default_factory=lambda: {e: [] for e in EXPRESSIONS})  # the judge's label per edit at 1.0
    identity: dict[str, list[float]] = field(default_factory=lambda: {e: [] for e in EXPRESSIONS})
    monotonic: dict[str, list[float]] = field(default_factory=lambda: {e: [] for e in EXPRESSIONS})
    psnr: list[float] = field(default_factory=list)
    ssim: list[float] = field(default_factory=list)
    sharp_before: list[float] = field(default_factory=list)
    sharp_after: list[float] = field(default_factory=list)
    sat_before: list[float] = field(default_factory=list)
    sat_after: list[float] = field(default_factory=list)
    colour_worst: list[tuple[float, float]] = field(default_factory=list)  # per face: (|Δsat|, |Δhue|) worst over renders
    spaces: set[str] = field(default_factory=set)
    neutral_reads: dict[str, float] = field(default_factory=dict)  # edited neutral face → highest recognised intensity
    renders: int = 0
    sheet: list[tuple[np.ndarray, dict[tuple[str, float], np.ndarray]]] = field(default_factory=list)


def _fit_crop(crop: np.ndarray, landmarks: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A prepared crop (and its landmarks) at the model's size; pixel centres stay put."""
    if crop.shape[0] == size:
        return crop, landmarks
    ratio = size / crop.shape[0]
    interpolation = cv2.INTER_AREA if ratio < 1 else cv2.INTER_LINEAR
    return cv2.resize(crop, (size, size), interpolation=interpolation), (landmarks + 0.5) * ratio - 0.5


def _one_hot(expression: str, level: float) -> ExpressionTargets:
    values = [0.0] * len(EXPRESSIONS)
    values[EXPRESSIONS.index(expression)] = float(level)
    return ExpressionTargets.exactly(values)


def _reconstruction(encoded: EncodedFace, crop: np.ndarray) -> tuple[float, float] | None:
    """PSNR and SSIM of the network's rendering of the face as read (S×S×C) against the crop;
    None for a family that renders none (``FaceReading.reconstruction``)."""
    rendered = encoded.reading.reconstruction
    if rendered is None:
        return None
    decoded = model_to_float_pixels(rendered[0])
    target = crop.astype(np.float32)
    if decoded.shape[2] == 1:  # a luminance model is scored against the crop's luma
        target = rgb_to_luma(target)
    return psnr(decoded, target), ssim(decoded, target)


def _source_path(info: PreparedInfo, record: FaceRecord) -> Path | None:
    """The record's source photo, if it can be found (absolute, or under the dataset root)."""
    source = Path(record.source)
    candidates = [source] if source.is_absolute() else [Path(info.root) / source, source]
    return next((p for p in candidates if p.is_file()), None)


def _lies_under(info: PreparedInfo, record: FaceRecord, folder: Path) -> bool:
    """Whether the record's source photo lies under ``folder`` (resolved); relative sources are read from the root."""
    source = Path(record.source)
    if not source.is_absolute():
        source = _source_path(info, record) or Path(info.root) / source
    return source.resolve().is_relative_to(folder)


def _photo_usable(info: PreparedInfo, record: FaceRecord) -> bool:
    return _source_path(info, record) is not None and np.asarray(record.source_landmarks).shape == (68, 2)


@dataclass(frozen=True)
class _Context:
    """What every face's measurement needs."""

    editor: ExpressionEditor
    judge: Judge
    info: PreparedInfo
    folder: Path
    levels: tuple[float, ...]
    use_photo: bool
    from_neutral: bool = False  # edit every face from a neutral start (Face Is Neutral), not from its reading

    @property
    def device(self) -> torch.device:
        return self.editor.model.device

    @property
    def starting(self) -> tuple[float, ...] | None:
        return NEUTRAL_START if self.from_neutral else None


def _photo_edits(ctx: _Context, record: FaceRecord) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]] | None:
    """The source photo, its landmarks and its edits at 1.0 through the app's photo path; None if unreadable."""
    path = _source_path(ctx.info, record)
    if path is None or np.asarray(record.source_landmarks).shape != (68, 2):
        return None
    try:
        photo = load_photo(path).pixels
    except PhotoError:
        return None
    points = np.asarray(record.source_landmarks, np.float64)
    x0, y0 = np.floor(points.min(axis=0)).astype(int)
    x1, y1 = np.ceil(points.max(axis=0)).astype(int) + 1
    encoded = ctx.editor.encode(photo, DetectedFace((int(x0), int(y0), int(x1), int(y1)), points, 1.0), ctx.starting)
    return photo, points, [ctx.editor.render(photo, [encoded], _one_hot(e, 1.0)) for e in EXPRESSIONS]


def _identity_distances(
    ctx: _Context, record: FaceRecord, crop: np.ndarray, landmarks: np.ndarray, crop_edits: list[np.ndarray]
) -> tuple[list[float], str]:
    """Descriptor distances input ↔ edit at 1.0, one per expression, and the space they were measured in."""
    from faceedit.core.identity import chip_descriptors, descriptor_distance, face_chip

    photo = _photo_edits(ctx, record) if ctx.use_photo else None
    pixels, points, edits, space = (*photo, "photo") if photo is not None else (crop, landmarks, crop_edits, "crop")
    # Both chips are cut with the input's landmarks, so only the edited pixels differ.
    chips = np.stack([face_chip(pixels, points)] + [face_chip(e, points) for e in edits])
    descriptors = chip_descriptors(chips, ctx.device)
    return [descriptor_distance(descriptors[0], d) for d in descriptors[1:]], space


def _judge_real(ctx: _Context, record: FaceRecord, probabilities: np.ndarray, acc: _Accumulator) -> None:
    if record.label in ctx.judge.training.classes:
        acc.judge_hits[record.label].append(float(probabilities.argmax() == record.label_index))


def _encode(ctx: _Context, record: FaceRecord, prepared_crop: np.ndarray) -> tuple[np.ndarray, np.ndarray, EncodedFace]:
    """The crop at the model's size, its landmarks, and the editor's encoding of it."""
    size = ctx.editor.size
    crop, landmarks = _fit_crop(prepared_crop, np.asarray(record.landmarks, np.float64), size)
    face = DetectedFace((0, 0, size, size), landmarks, 1.0)
    encoded = ctx.editor.encode_aligned(face, already_aligned(crop, landmarks))
    reading = encoded.reading
    tensors = [getattr(reading, f.name) for f in dataclasses.fields(reading)]
    if not all(torch.isfinite(t).all() for t in tensors if isinstance(t, torch.Tensor)):
        raise FaceeditError(f"the model {ctx.editor.model.info.path} produces NaN or infinite values (on {record.file})")
    return crop, landmarks, encoded


def _evaluate_face(ctx: _Context, record: FaceRecord, acc: _Accumulator, *, edit: bool, sheet_levels: tuple[float, ...] | None) -> None:
    """Measure one test face: judge and reconstruction always; the edit metrics when ``edit``."""
    prepared_crop = load_crop(ctx.folder, record)
    crop, landmarks, encoded = _encode(ctx, record, prepared_crop)
    scores = _reconstruction(encoded, crop)
    if scores is not None:
        acc.psnr.append(scores[0])
        acc.ssim.append(scores[1])
    # The judge's own accuracy is read on the crop as prepared, so it does not depend on
    # the model's size; edits are judged at the model's size.
    if not edit:
        _judge_real(ctx, record, ctx.judge.probabilities([prepared_crop])[0], acc)
        return

    if record.label == NEUTRAL:
        acc.neutral_reads[record.subject or record.file] = float(np.max(encoded.recognised))
    if ctx.from_neutral:
        encoded = ctx.editor.start_from(encoded, ctx.starting)
    wanted = sorted(set(ctx.levels) | {1.0} | set(sheet_levels or ()))
    renders = {(e, lv): ctx.editor.render(crop, [encoded], _one_hot(e, lv)) for e in EXPRESSIONS for lv in wanted}
    acc.renders += len(renders)
    keys = list(renders)
    probabilities = ctx.judge.probabilities([prepared_crop] + [renders[k] for k in keys])
    _judge_real(ctx, record, probabilities[0], acc)
    judged = dict(zip(keys, probabilities[1:]))
    for index, expression in enumerate(EXPRESSIONS):
        if expression in ctx.judge.training.classes:
            acc.accuracy[expression].append(float(judged[(expression, 1.0)].argmax() == index))
            acc.read_as[expression].append(LABELS[int(judged[(expression, 1.0)].argmax())])
            acc.monotonic[expression].append(spearman(ctx.levels, [judged[(expression, lv)][index] for lv in ctx.levels]))

    mask = encoded.mask > 0.5
    full = [renders[(e, 1.0)] for e in EXPRESSIONS]
    outside_mouth = mouth_excluded(mask, landmarks)
    acc.sharp_before.append(laplacian_variance(crop, outside_mouth))
    acc.sharp_after.append(float(np.mean([laplacian_variance(r, outside_mouth) for r in full])))
    saturation, hue = mean_saturation(crop, mask), mean_hue(crop, mask)
    acc.sat_before.append(saturation)
    acc.sat_after.append(float(np.mean([mean_saturation(r, mask) for r in full])))
    changes = [(abs(mean_saturation(r, mask) / max(saturation, 1e-6) - 1.0),
                abs((mean_hue(r, mask) - hue + 180.0) % 360.0 - 180.0)) for (_, level), r in renders.items() if level > 0]
    acc.colour_worst.append((max(c[0] for c in changes), max(c[1] for c in changes)))

    distances, space = _identity_distances(ctx, record, crop, landmarks, full)
    acc.spaces.add(space)
    for expression, distance in zip(EXPRESSIONS, distances):
        acc.identity[expression].append(distance)
    if sheet_levels is not None:
        acc.sheet.append((crop, {(e, lv): renders[(e, lv)] for e in EXPRESSIONS for lv in sheet_levels}))


# --------------------------------------------------------------------------- contact sheet


def sheet_cell_size(image_size: int, columns: int) -> int:
    """Side of one contact-sheet cell: at least 128 px to be legible, the sheet ≤ ~2000 px wide."""
    return int(min(max(128, image_size), (SHEET_MAX_WIDTH - SHEET_GAP * (columns + 1)) // columns))


def _put_centred(canvas: np.ndarray, text: str, centre_x: int, baseline: int, scale: float = 0.4) -> None:
    (width, _), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
    cv2.putText(canvas, text, (int(centre_x - width / 2), baseline), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)


def contact_sheet(
    rows: Sequence[tuple[np.ndarray, dict[tuple[str, float], np.ndarray]]],
    levels: Sequence[float],
    footer: str = "",
) -> np.ndarray:
    """Rows of [input, each expression at each level], with column headers (H×W×3 uint8 RGB)."""
    columns = 1 + len(EXPRESSIONS) * len(levels)
    size = rows[0][0].shape[0] if rows else 64
    cell = sheet_cell_size(size, columns)
    step = cell + SHEET_GAP
    height = SHEET_HEADER + SHEET_GAP + len(rows) * step + SHEET_FOOTER
    canvas = np.full((height, SHEET_GAP + columns * step, 3), 255, np.uint8)
    titles = [("input", "")] + [(e, f"{lv:g}") for e in EXPRESSIONS for lv in levels]
    for column, (title, level) in enumerate(titles):
        centre = SHEET_GAP + column * step + cell // 2
        _put_centred(canvas, title, centre, 15)
        _put_centred(canvas, level, centre, 31)
    interpolation = cv2.INTER_CUBIC if cell > size else cv2.INTER_AREA
    for row, (crop, edits) in enumerate(rows):
        images = [crop] + [edits[(e, lv)] for e in EXPRESSIONS for lv in levels]
        y = SHEET_HEADER + SHEET_GAP + row * step
        for column, image in enumerate(images):
            x = SHEET_GAP + column * step
            canvas[y : y + cell, x : x + cell] = cv2.resize(image, (cell, cell), interpolation=interpolation)
    if footer:
        cv2.putText(canvas, footer[:200], (SHEET_GAP + 2, height - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (90, 90, 90), 1, cv2.LINE_AA)
    return canvas


# --------------------------------------------------------------------------- the evaluation


def _spread(items: Sequence[FaceRecord], count: int) -> list[FaceRecord]:
    """``count`` items evenly spread over ``items`` (all of them when there are fewer)."""
    if count <= 0 or len(items) <= count:
        return list(items)
    return [items[int(i * len(items) / count)] for i in range(count)]


def _check_levels(levels: Sequence[float]) -> tuple[float, ...]:
    values = tuple(sorted({float(v) for v in levels}))
    if len(values) < 2 or any(not 0.0 <= v <= 1.0 for v in values):
        raise FaceeditError(f"levels must be at least two different values in [0, 1], not {list(levels)}")
    return values


def _load_checked_model(path: Path, device: torch.device) -> LoadedModel:
    model = load_model(path, device)
    for name, tensor in model.network.state_dict().items():
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise FaceeditError(f"the model {path} has NaN or infinite weights ({name}): its training diverged")
    return model


def _model_summary(model: LoadedModel) -> ModelSummary:
    info = model.info
    return ModelSummary(
        path=str(info.path),
        name=info.name,
        image_size=info.config.image_size,
        width=info.config.width,
        image_channels=info.config.image_channels,
        parameters=info.parameters,
        storage_dtype=info.storage_dtype,
        trained_on=info.provenance.data,
        steps=info.provenance.steps,
        date=info.provenance.date,
        commit=info.provenance.commit,
    )


def _judge_summary(judge: Judge, acc: _Accumulator) -> JudgeSummary:
    per_class = {c: float(np.mean(acc.judge_hits[c])) for c in judge.training.classes if acc.judge_hits[c]}
    hits = [h for c in judge.training.classes for h in acc.judge_hits[c]]
    return JudgeSummary(
        classes=judge.training.classes,
        train_counts=dict(judge.training.train_counts),
        test_faces=len(hits),
        test_accuracy=float(np.mean(hits)) if hits else None,
        balanced_accuracy=float(np.mean(list(per_class.values()))) if per_class else None,
        per_class=per_class,
        cached=judge.cached,
        steps=judge.training.steps,
        train_seconds=judge.training.seconds,
    )


def _check_finite(result: EvaluationResult) -> None:
    def numbers(value: Any) -> list[float]:
        if isinstance(value, dict):
            return [n for v in value.values() for n in numbers(v)]
        if isinstance(value, (list, tuple)):
            return [n for v in value for n in numbers(v)]
        return [float(value)] if isinstance(value, (int, float)) and not isinstance(value, bool) else []

    if not all(math.isfinite(n) for n in numbers(result.to_json())):
        raise FaceeditError("the evaluation produced NaN or infinite numbers: the model's outputs are not usable")


def evaluate_model(
    model_path: Path | str,
    prepared: Path | str,
    *,
    device: str | torch.device | None = None,
    levels: Sequence[float] = DEFAULT_LEVELS,
    sheet_levels: Sequence[float] = SHEET_LEVELS,
    max_faces: int = DEFAULT_MAX_FACES,
    identity_space: str = "auto",
    judge_config: JudgeConfig = JudgeConfig(),
    progress: Progress | None = None,
    edit_from: Path | str | None = None,
    from_neutral: bool = False,
) -> EvaluationResult:
    """Measure a model on the TEST split of a prepared dataset through the app's editor.

    ``max_faces`` bounds the faces that are edited (0 = all); ``identity_space`` is
    "auto" (the source photos where all are readable, else the crops), "photo" or "crop".
    ``edit_from``: edit only test faces whose source photo lies under this folder (e.g.
    one dataset of a merged PREPARED folder); the judge still trains on the whole
    training split and is scored on the whole test split. ``from_neutral``: edit every
    face from a neutral start (as the app's Face Is Neutral does) instead of from what the
    model recognises, to measure the edits apart from the recogniser's errors.
    Raises :class:`FaceeditError` for a bad model file, a model with NaN weights, an
    empty test split, no test face under ``edit_from``, or a prepared dataset that
    cannot train a judge.
    """
    from faceedit.core.device import describe_device, resolve_device

    start = time.perf_counter()
    say = progress or (lambda _message: None)
    folder, levels = Path(prepared), _check_levels(levels)
    sheet_levels = tuple(sorted({float(v) for v in sheet_levels}))
    if identity_space not in ("auto", "photo", "crop"):
        raise FaceeditError(f"identity_space must be auto, photo or crop, not {identity_space!r}")
    info, records = read_prepared(folder)
    test = [r for r in records if r.split == "test"]
    if not test:
        raise FaceeditError(f"{folder} has no test faces: the evaluation needs a held-out test split")
    candidates, under = test, None
    if edit_from is not None:
        under = Path(edit_from).resolve()
        candidates = [r for r in test if _lies_under(info, r, under)]
        if not candidates:
            raise FaceeditError(
                f"no test face of {folder} comes from {edit_from} (--edit-from); "
                f"its {len(test)} test faces come from e.g. {Path(test[0].source).parent}"
            )
    torch_device = resolve_device(str(device) if device is not None else None)
    model = _load_checked_model(Path(model_path), torch_device)
    judge = load_or_train_judge(folder, records, judge_config, torch_device, say)
    say(f"judge: {'loaded from cache' if judge.cached else f'trained in {judge.training.seconds:.1f} s'} ({', '.join(judge.training.classes)})")

    neutral = [r for r in candidates if r.label == NEUTRAL]
    edited = _spread(neutral or candidates, max_faces)
    on_sheet = {id(r) for r in _spread(edited, SHEET_ROWS)}
    use_photo = identity_space == "photo" or (identity_space == "auto" and all(_photo_usable(info, r) for r in edited))
    ctx = _Context(ExpressionEditor(model), judge, info, folder, levels, use_photo, from_neutral)
    edited_ids = {id(r) for r in edited}
    acc = _Accumulator()
    with torch.inference_mode():
        for number, record in enumerate(test, 1):
            is_edited = id(record) in edited_ids
            _evaluate_face(ctx, record, acc, edit=is_edited, sheet_levels=sheet_levels if id(record) in on_sheet else None)
            if number % 25 == 0 or number == len(test):
                say(f"evaluate: {number}/{len(test)} test faces")

    known = judge.training.classes
    identity_all = [d for e in EXPRESSIONS for d in acc.identity[e]]
    result = EvaluationResult(
        model=_model_summary(model),
        prepared=str(folder.resolve()),
        device=describe_device(torch_device),
        levels=levels,
        counts=EvaluationCounts(
            train_faces=sum(r.split == "train" for r in records),
            test_faces=len(test),
            edited_faces=len(edited),
            edited_from="neutral" if neutral else "all",
            test_labels={label: n for label in LABELS if (n := sum(r.label == label for r in test))},
            renders=acc.renders,
            edited_under=None if under is None else str(under),
            edited_from_neutral=from_neutral,
            test_faces_under=None if under is None else len(candidates),
        ),
        judge=_judge_summary(judge, acc),
        expression_accuracy=PerExpression.from_lists(acc.accuracy, known),
        identity_distance=PerExpression.from_lists(acc.identity),
        identity_same_person_rate=float(np.mean([d < SAME_PERSON for d in identity_all])),
        identity_space=acc.spaces.pop() if len(acc.spaces) == 1 else "mixed",
        psnr=float(np.mean(acc.psnr)) if acc.psnr else None,
        ssim=float(np.mean(acc.ssim)) if acc.ssim else None,
        monotonicity=PerExpression.from_lists(acc.monotonic, known),
        sharpness=BeforeAfter(float(np.mean(acc.sharp_before)), float(np.mean(acc.sharp_after))),
        saturation=BeforeAfter(float(np.mean(acc.sat_before)), float(np.mean(acc.sat_after))),
        template_matches=bool(np.allclose(model.info.template, np.asarray(info.template, np.float64), atol=1e-6)),
        seconds=time.perf_counter() - start,
        contact_sheet=contact_sheet(acc.sheet, sheet_levels, footer=_sheet_footer(model.info.name, info.root, under)),
        colour=_colour(acc.colour_worst),
        read_as={e: _fractions(labels) for e, labels in acc.read_as.items() if labels},
        neutral_reading=_neutral_reading(acc.neutral_reads),
    )
    _check_finite(result)
    return result


def _fractions(labels: list[str]) -> dict[str, float]:
    """Label → share of ``labels``, most frequent first."""
    counts = Counter(labels)
    return {label: n / len(labels) for label, n in counts.most_common()}


def _neutral_reading(reads: dict[str, float]) -> NeutralReading | None:
    if not reads:
        return None
    misread = {face: value for face, value in sorted(reads.items()) if value >= NEUTRAL_BELOW}
    return NeutralReading(len(reads), 1.0 - len(misread) / len(reads), misread)


def _colour(worst: list[tuple[float, float]]) -> ColourPerFace | None:
    if not worst:
        return None
    within = [sat <= SATURATION_TOLERANCE and hue <= HUE_TOLERANCE for sat, hue in worst]
    return ColourPerFace(max(w[0] for w in worst), max(w[1] for w in worst), float(np.mean(within)))


def _sheet_footer(model_name: str, root: str, under: Path | None) -> str:
    if under is None:
        return f"{model_name}: held-out faces of {root}"
    return f"{model_name}: held-out faces of {root}, edited only those from {under}"


# --------------------------------------------------------------------------- outputs


@dataclass(frozen=True)
class EvaluationPaths:
    folder: Path
    metrics: Path
    contact_sheet: Path


def output_paths(model_path: Path | str, out_dir: Path | str | None = None) -> EvaluationPaths:
    """Where the outputs go: ``out_dir``, or ``<model stem>-eval/`` beside the model."""
    model_path = Path(model_path)
    folder = Path(out_dir) if out_dir is not None else model_path.parent / f"{model_path.stem}-eval"
    return EvaluationPaths(folder, folder / METRICS_NAME, folder / SHEET_NAME)


def check_outputs(paths: EvaluationPaths, *, overwrite: bool) -> None:
    """Refuse early (before any work) to replace existing outputs without ``overwrite``."""
    if paths.folder.exists() and not paths.folder.is_dir():
        raise OutputError(f"{paths.folder} exists and is not a folder")
    for path in (paths.metrics, paths.contact_sheet):
        if path.exists() and not overwrite:
            raise OutputError(f"{path} already exists (use --overwrite to replace it)")


def write_outputs(result: EvaluationResult, paths: EvaluationPaths, *, overwrite: bool = False) -> None:
    """Write metrics.json and the contact sheet, each atomically."""
    check_outputs(paths, overwrite=overwrite)
    try:
        paths.folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(f"cannot create {paths.folder}: {error.strerror or error}") from error
    write_text_atomic(paths.metrics, json.dumps(result.to_json(), indent=2) + "\n", overwrite=overwrite)
    save_photo(paths.contact_sheet, result.contact_sheet, overwrite=overwrite)


# --------------------------------------------------------------------------- command line


def _levels_argument(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(p) for p in text.replace(" ", "").split(",") if p)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a list of numbers, e.g. 0,0.5,1") from None
    if len(set(values)) < 2 or any(not 0.0 <= v <= 1.0 for v in values):
        raise argparse.ArgumentTypeError("give at least two different levels in [0, 1], e.g. 0,0.25,0.5,0.75,1")
    return values


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``evaluate`` sub-command's arguments (the trainer's CLI owns the parser)."""
    parser.add_argument("model", metavar="MODEL", type=Path, help="faceedit model file")
    parser.add_argument("prepared", metavar="PREPARED", type=Path, help="prepared dataset (faceedit-train prepare)")
    parser.add_argument("--out", metavar="DIR", type=Path, help="output folder (default: <model stem>-eval/ beside MODEL)")
    parser.add_argument("--device", metavar="DEV", help="auto (default, or $FACEEDIT_DEVICE), cpu, cuda or cuda:N")
    parser.add_argument(
        "--levels", type=_levels_argument, default=DEFAULT_LEVELS, metavar="L,L,…",
        help="slider levels for the monotonicity metric (default 0,0.25,0.5,0.75,1)",
    )
    parser.add_argument(
        "--max-faces", type=int, default=DEFAULT_MAX_FACES, metavar="N",
        help=f"edit at most N test faces, spread over the split (default {DEFAULT_MAX_FACES}; 0 = all)",
    )
    parser.add_argument(
        "--edit-from", type=Path, metavar="PATH",
        help="edit only test faces whose source photo lies under PATH (e.g. one dataset of a merged PREPARED); "
        "the judge still trains and is scored on the whole splits",
    )
    parser.add_argument(
        "--from-neutral", action="store_true",
        help="edit every face from a neutral start (as the app's Face Is Neutral does), not from what the model "
        "recognises: the edits measured apart from the recogniser's errors",
    )
    parser.add_argument(
        "--judge-steps", type=int, metavar="N",
        help=f"train the judge for at most N steps (default {JudgeConfig().max_steps}); a big PREPARED set needs more "
        "than the default to be read well. The judge is cached per setting",
    )
    parser.add_argument("--overwrite", action="store_true", help="replace metrics.json and the contact sheet if they exist")


def _report(result: EvaluationResult) -> str:
    def number(value: float | None, fmt: str = ".3f") -> str:
        return "n/a" if value is None else format(value, fmt)

    judge = result.judge
    return "\n".join(
        [
            f"judge: test accuracy {number(judge.test_accuracy)} on {judge.test_faces} real faces "
            f"(balanced {number(judge.balanced_accuracy)}; classes {', '.join(judge.classes)})",
            f"expression accuracy {number(result.expression_accuracy.mean)}   "
            f"monotonicity {number(result.monotonicity.mean)}",
            *(["edits at 1.0 read as: " + "; ".join(
                f"{e} → " + ", ".join(f"{label} {share:.0%}" for label, share in list(labels.items())[:2])
                for e, labels in result.read_as.items())] if result.read_as else []),
            *([f"neutral faces read neutral (every intensity < {NEUTRAL_BELOW}): {result.neutral_reading.read_neutral:.0%} of "
               f"{result.neutral_reading.faces}" + "".join(f"; {face} {value:.2f}" for face, value in result.neutral_reading.misread.items())]
              if result.neutral_reading is not None else []),
            f"identity distance {number(result.identity_distance.mean)} ({result.identity_space}; "
            f"same person {result.identity_same_person_rate:.0%})",
            (f"reconstruction PSNR {result.psnr:.2f} dB, SSIM {result.ssim:.3f}" if result.psnr is not None and result.ssim is not None
             else "reconstruction: not rendered by this family"),
            f"sharpness ×{result.sharpness.ratio:.2f}, saturation ×{result.saturation.ratio:.2f} after editing",
            *([f"colour per face: worst saturation change {result.colour.worst_saturation_change:.1%}, worst hue shift "
               f"{result.colour.worst_hue_shift:.1f}°, {result.colour.faces_within:.0%} of faces within ±10 % and ±5°"]
              if result.colour is not None else []),
            f"{result.counts.edited_faces} of {result.counts.test_faces} test faces edited"
            + (f" (of the {result.counts.test_faces_under} from {result.counts.edited_under})" if result.counts.edited_under else "")
            + (", each from a neutral start (--from-neutral)" if result.counts.edited_from_neutral else "")
            + f", {result.seconds:.1f} s",
        ]
    )


def run_evaluate(args: argparse.Namespace) -> int:
    """Run ``faceedit-train evaluate`` from parsed arguments; FaceeditError propagates to the CLI."""
    if args.max_faces < 0:
        raise FaceeditError("--max-faces must be 0 (all) or more")
    judge_steps = getattr(args, "judge_steps", None)
    if judge_steps is not None and judge_steps < 1:
        raise FaceeditError("--judge-steps must be 1 or more")
    judge = {} if judge_steps is None else {"judge_config": JudgeConfig(max_steps=judge_steps)}
    paths = output_paths(args.model, args.out)
    check_outputs(paths, overwrite=args.overwrite)

    def progress(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    result = evaluate_model(
        args.model, args.prepared, device=args.device, levels=args.levels, max_faces=args.max_faces, progress=progress,
        edit_from=getattr(args, "edit_from", None), from_neutral=getattr(args, "from_neutral", False), **judge,
    )
    write_outputs(result, paths, overwrite=args.overwrite)
    print(_report(result))
    print(f"wrote {paths.metrics} and {paths.contact_sheet}")
    return 0
