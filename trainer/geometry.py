"""``faceedit-train geometry``: learn how each expression moves the landmarks, and give a model that geometry.

Per expression, the mean displacement of the 68 aligned landmarks from neutral to that
expression, in fractions of the crop's side (the crops are aligned to one template, so
their landmarks share a frame):

- from **pairs** where the data have them (the same subject neutral and with the
  expression, e.g. London's neutral/smiling): the mean of the per-subject differences;
- otherwise from **class contrasts, within one image source**: expressions7 mixes
  greyscale images with colour ones of other proportions, and colour images are a third
  of its neutral class but few of the others. A contrast across sources would learn the
  source as part of the expression, so the contrast is taken inside each source
  (greyscale, colour) and the sources are weighted by how many faces each contrast rests on.

Only training-split faces are used: held-out identities stay unseen. The result is stored
in the model file (the family config's ``geometry``, buffer ``landmark_shifts``); the editor
turns it into a warp per face (:mod:`faceedit.core.models.geometry`).
"""

from __future__ import annotations

import argparse
import warnings
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from faceedit.core.errors import FaceeditError
from faceedit.core.expressions import EXPRESSIONS, NEUTRAL
from faceedit.core.imageio import load_photo
from faceedit.core.models.file import Provenance, load_model, save_model
from faceedit.core.models.geometry import LUMA_OFFSET, face_to_reference_maps, finish_log_ratio, to_reference_frame
from faceedit.core.models.pixels import LUMA as LUMA_WEIGHTS, rgb_to_luma
from trainer.coverage import crop_coverage
from trainer.manifest import FaceRecord, read_prepared

MIN_PAIRS = 10
"""Fewer pairs than this for an expression: its geometry comes from class contrasts instead."""


@dataclass(frozen=True)
class ExpressionShift:
    """One expression's learned displacement and where it came from."""

    expression: str
    shifts: np.ndarray  # 68×2, in the reference face's frame (crop fractions; x right, y down)
    source: str  # "pairs" or "contrast"
    faces: int  # pairs, or faces the contrast rests on
    # Which faces it rests on, per evidence group ("pairs", or a contrast's source): indices
    # into that group's training faces (the apex selection; all of them without one). The
    # appearance fit uses the same faces.
    chosen: dict[str, tuple[int, ...]] = field(default_factory=dict, compare=False)


def _landmarks(record: FaceRecord, size: int) -> np.ndarray:
    return np.asarray(record.landmarks, np.float64) / size


def _normalised(record: FaceRecord, size: int, reference: np.ndarray) -> np.ndarray:
    return to_reference_frame(_landmarks(record, size), reference)


def _greyscale(pixels: np.ndarray) -> bool:
    """Whether an H×W×3 photo's R, G and B agree within 2 levels everywhere (a greyscale source)."""
    channels = pixels.astype(np.int16)
    return bool(np.abs(channels[..., 0] - channels[..., 1]).max() <= 2 and np.abs(channels[..., 1] - channels[..., 2]).max() <= 2)


def _is_greyscale(folder: Path, record: FaceRecord) -> bool:
    return _greyscale(load_photo(folder / record.file).pixels)


def reference_face(prepared: list[Path]) -> np.ndarray:
    """The mean neutral training face (68×2, crop fractions): the frame shifts are measured in."""
    faces = []
    for folder in prepared:
        info, records = read_prepared(folder)
        faces += [_landmarks(r, info.size) for r in records if r.split == "train" and r.label == NEUTRAL]
    if not faces:
        raise FaceeditError("no neutral training faces to measure the geometry against")
    return np.mean(faces, axis=0)


RANKINGS = ("displacement", "typical")
"""How the apex faces of a class contrast are picked (see :func:`fit_geometry`)."""


@dataclass
class _Evidence:
    """Per-face measurements grouped the way both fits use them."""

    pairs: dict[str, list[np.ndarray]]  # expression → per-subject differences to neutral
    groups: dict[tuple[str, str], list[np.ndarray]]  # (source, label) → measurements; source = folder + grey/colour
    _typicality: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)  # source → label → P(label) per face

    def contrast(
        self, expression: str, apex: float = 1.0, chosen: dict[str, tuple[int, ...]] | None = None,
        ranking: str = "displacement", average: Callable[..., np.ndarray] = np.mean,
    ) -> tuple[np.ndarray | None, int, dict[str, tuple[int, ...]]]:
        """The expression's mean minus neutral's, within each source, weighted by faces; (None, 0, {}) without data.

        ``apex`` < 1: only that fraction of the expression's faces, ranked by ``ranking``
        (see :func:`fit_geometry`). ``chosen`` (source → face indices) takes given faces
        instead. ``average`` (over faces, ``axis=0``) makes the class means. Returns the faces used, per source.
        """
        total, weight, used = None, 0, {}
        for source in sorted({s for s, _ in self.groups}):
            faces, neutrals = self.groups.get((source, expression), []), self.groups.get((source, NEUTRAL), [])
            if len(faces) >= MIN_PAIRS and len(neutrals) >= MIN_PAIRS:
                neutral = average(neutrals, axis=0)
                differences = [f - neutral for f in faces]
                if chosen is not None and source in chosen:
                    keep = chosen[source]
                    difference = average([differences[i] for i in keep], axis=0)
                elif ranking == "typical" and apex < 1.0:
                    difference, keep = _apex(differences, apex, self.typicality(source)[expression])
                else:
                    difference, keep = _apex(differences, apex)
                used[source] = keep
                n = min(len(keep), len(neutrals))
                part = n * difference
                total, weight = (part if total is None else total + part), weight + n
        return (None, 0, {}) if total is None else (total / weight, weight, used)

    def typicality(self, source: str) -> dict[str, np.ndarray]:
        """Label → how typical of its label each of ``source``'s faces looks by its landmarks alone (cached)."""
        if source not in self._typicality:
            labels = [label for s, label in sorted(self.groups) if s == source]
            self._typicality[source] = shape_typicality({label: self.groups[(source, label)] for label in labels})
        return self._typicality[source]


def shape_typicality(faces_by_label: Mapping[str, list[np.ndarray]]) -> dict[str, np.ndarray]:
    """Per label, each face's probability of its own label under a landmark-shape classifier.

    A multinomial logistic regression (class-balanced, lightly L2-regularised, zero
    start, so the result is deterministic) on the standardised 68×2 landmarks of all the
    given faces. Why: the faces of a noisy expression class furthest from neutral are
    mostly those with the mouth wide open, which several classes share (anger, fear and
    surprise alike); the faces this classifier finds most typical of anger are those
    whose shape sets anger apart from the *other* classes (lowered, drawn-in brows), and
    mislabelled faces rank last.
    """
    labels = sorted(faces_by_label)
    features = np.concatenate([np.asarray(faces_by_label[label]).reshape(len(faces_by_label[label]), -1) for label in labels])
    targets = np.concatenate([np.full(len(faces_by_label[label]), k) for k, label in enumerate(labels)])
    x = torch.from_numpy(features).double()
    x = (x - x.mean(0)) / (x.std(0) + 1e-9)
    y = torch.from_numpy(targets).long()
    counts = torch.bincount(y, minlength=len(labels)).double()
    balance = counts.sum() / (len(labels) * counts)
    classifier = torch.nn.Linear(x.shape[1], len(labels)).double()
    torch.nn.init.zeros_(classifier.weight)
    torch.nn.init.zeros_(classifier.bias)
    optimiser = torch.optim.LBFGS(classifier.parameters(), max_iter=300, line_search_fn="strong_wolfe")

    def loss() -> torch.Tensor:
        optimiser.zero_grad()
        value = F.cross_entropy(classifier(x), y, weight=balance) + 1e-3 * classifier.weight.pow(2).sum()
        value.backward()
        return value

    with torch.enable_grad():
        optimiser.step(loss)
    with torch.no_grad():
        own = classifier(x).softmax(1).gather(1, y[:, None])[:, 0].numpy()
    return {label: own[targets == k] for k, label in enumerate(labels)}


def _evidence(prepared: list[Path], measure: Callable[[Path, FaceRecord, int], np.ndarray]) -> _Evidence:
    """``measure(folder, record, prepared size)`` of every training face: pair differences and per-source groups."""
    evidence = _Evidence(defaultdict(list), defaultdict(list))
    for folder in prepared:
        info, records = read_prepared(folder)
        train = [r for r in records if r.split == "train"]
        by_subject: dict[str, dict[str, FaceRecord]] = defaultdict(dict)
        for record in train:
            if record.subject:  # "" = subject unknown (expression folders): never a pair
                by_subject[record.subject][record.label] = record
        paired_subjects = {s for s, faces in by_subject.items() if NEUTRAL in faces and len(faces) > 1}
        for subject in sorted(paired_subjects):  # sorted: the geometry and appearance fits index the same faces
            faces = by_subject[subject]
            neutral = measure(folder, faces[NEUTRAL], info.size)
            for label, record in faces.items():
                if label != NEUTRAL and record.intensity >= 0.99:
                    evidence.pairs[label].append(measure(folder, record, info.size) - neutral)
        for record in train:
            if record.subject not in paired_subjects:
                source = f"{folder}:{'grey' if _is_greyscale(folder, record) else 'colour'}"
                evidence.groups[(source, record.label)].append(measure(folder, record, info.size))
    return evidence


def _apex(differences: list[np.ndarray], fraction: float, scores: np.ndarray | None = None) -> tuple[np.ndarray, tuple[int, ...]]:
    """The mean of the ``fraction`` of differences that score highest, and their indices.

    The score is ``scores`` where given, else how far each difference goes along their mean direction.
    """
    stacked = np.asarray(differences)
    along = (stacked * stacked.mean(axis=0)).sum(axis=(1, 2)) if scores is None else np.asarray(scores)
    keep = np.argsort(-along, kind="stable")[: max(1, int(round(fraction * len(stacked))))]
    return stacked[keep].mean(axis=0), tuple(int(i) for i in sorted(keep))


def fit_geometry(
    prepared: list[Path], reference: np.ndarray, apex: float = 1.0, contrast_apex: float | None = None,
    apex_for: Mapping[str, float] | None = None, ranking: str = "displacement",
) -> list[ExpressionShift]:
    """The six expressions' shifts (in ``reference``'s frame) from the training faces of ``prepared``.

    ``apex`` < 1 takes, per expression, only that fraction of its faces that show it most
    strongly (furthest along the mean displacement): the data hold faint and strong
    expressions alike, and intensity 1.0 means the expression at its apex, not the average.
    ``contrast_apex`` does the same for expressions learned from class contrasts (default:
    ``apex``); noisy, unaligned class data may call for a different choice than clean pairs.
    ``apex_for`` (expression → fraction) overrides both for the expressions it names: how
    strong 1.0 should be is a per-expression trade between being read and staying the same
    person, chosen by measurement.
    ``ranking`` says which faces of a class contrast count as showing it most strongly:
    ``"displacement"``, those furthest along the mean displacement from neutral (as for
    pairs); ``"typical"``, those a landmark-shape classifier over all the source's classes
    finds most typical of the expression (:func:`shape_typicality`): distinctive rather
    than merely large changes. Pairs always rank by displacement (one class against neutral).
    """
    if ranking not in RANKINGS:
        raise FaceeditError(f"ranking must be one of {', '.join(RANKINGS)}, not {ranking!r}")
    contrast_apex = apex if contrast_apex is None else contrast_apex
    apex_for = dict(apex_for or {})
    unknown = sorted(set(apex_for) - set(EXPRESSIONS))
    if unknown:
        raise FaceeditError(f"--apex-for: unknown expression {unknown[0]} (one of {', '.join(EXPRESSIONS)})")
    checked = [("--apex", apex), ("--contrast-apex", contrast_apex), *((f"--apex-for {k}", v) for k, v in apex_for.items())]
    for name, value in checked:
        if not 0.0 < value <= 1.0:
            raise FaceeditError(f"{name} must be in (0, 1], not {value}")
    evidence = _evidence(prepared, lambda folder, record, size: _normalised(record, size, reference))
    result = []
    for expression in EXPRESSIONS:
        pairs = evidence.pairs[expression]
        if len(pairs) >= MIN_PAIRS:
            shifts, keep = _apex(pairs, apex_for.get(expression, apex))
            result.append(ExpressionShift(expression, shifts, "pairs", len(keep), {"pairs": keep}))
            continue
        shifts, weight, used = evidence.contrast(expression, apex_for.get(expression, contrast_apex), ranking=ranking)
        if shifts is None:
            raise FaceeditError(
                f"no data for the geometry of {expression}: need {MIN_PAIRS} pairs, or {MIN_PAIRS} {expression} and "
                "neutral training faces from one source"
            )
        result.append(ExpressionShift(expression, shifts, "contrast", weight, used))
    return result


def log_luma_in_reference(folder: Path, record: FaceRecord, info_size: int, reference: np.ndarray, size: int) -> np.ndarray:
    """The face's log luminance warped into the reference face's frame (size×size float32).

    NaN where the crop shows no photo (:func:`trainer.coverage.crop_coverage`: padding
    smeared from the photo's edge), so that the medians over faces leave those pixels out.
    """
    import cv2

    pixels = load_photo(folder / record.file).pixels
    points = np.asarray(record.landmarks, np.float64)
    coverage = crop_coverage(record, info_size)
    if pixels.shape[0] != size:
        pixels = cv2.resize(pixels, (size, size), interpolation=cv2.INTER_AREA)
        points = (points + 0.5) * size / info_size - 0.5
        if coverage is not None:
            coverage = cv2.resize(coverage, (size, size), interpolation=cv2.INTER_AREA)
    luma = rgb_to_luma(pixels)[:, :, 0]
    map_x, map_y = face_to_reference_maps(points, reference * size, size)
    warped = np.log(cv2.remap(luma, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE) + LUMA_OFFSET)
    if coverage is not None:
        covered = cv2.remap(coverage, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        warped[covered < 0.99] = np.nan
    return warped.astype(np.float32)


MIN_COVERED_SHARE = 0.5
"""An appearance ratio counts fully where at least this share of its faces show the pixel; it fades to none below."""


def _covered_median(faces: list[np.ndarray], axis: int = 0) -> np.ndarray:
    """Per-pixel median over the faces that show the pixel (NaN marks padding); NaN where none does."""
    stacked = np.asarray(faces)
    if not np.isnan(stacked).any():
        return np.median(stacked, axis=axis)  # photos with no padding: exactly the plain median
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # pixels no face shows stay NaN; the caller handles them
        return np.nanmedian(stacked, axis=axis)


def _covered_share(faces: list[np.ndarray]) -> np.ndarray:
    """Per pixel, the share of ``faces`` that show it (not NaN)."""
    return np.mean([~np.isnan(face) for face in faces], axis=0)


def fit_appearance(prepared: list[Path], reference: np.ndarray, shifts: list[ExpressionShift], size: int) -> np.ndarray:
    """Per expression, the median log luminance ratio to neutral in the reference frame (K×size×size).

    A per-pixel median over faces, not a mean: what covers part of the face in a minority
    of the photos (a hand over the mouth or chin, common in posed fear, hair, glasses)
    would otherwise paint a grey patch into the expression.

    From the same faces as each expression's shift (pairs, or contrasts within one image
    source; the apex selection where there was one), finished by
    :func:`faceedit.core.models.geometry.finish_log_ratio`: each map keeps only *local*
    change (classes of one source also differ in overall exposure, e.g. expressions7's fear
    and surprise crops are brighter) and fades to zero outside the face (the crops'
    backgrounds differ by class, not by expression).
    Pixels where a crop shows padding rather than its photo (:mod:`trainer.coverage`) are
    left out of the medians, and a ratio fades out where fewer than
    :data:`MIN_COVERED_SHARE` of its faces show the pixel: expressions7's tight crops leave
    the chin and forehead to padding in most of its photos.
    """
    evidence = _evidence(prepared, lambda folder, record, info_size: log_luma_in_reference(
        folder, record, info_size, reference, size))
    maps = []
    for shift in shifts:
        if shift.source == "pairs":
            pairs = evidence.pairs[shift.expression]
            chosen = [pairs[i] for i in shift.chosen.get("pairs", range(len(pairs)))]
            ratio, share = _covered_median(chosen), _covered_share(chosen)
        else:
            contrast, _, _ = evidence.contrast(shift.expression, chosen=shift.chosen or None, average=_covered_median)
            ratio = np.zeros((size, size)) if contrast is None else contrast
            share = _contrast_share(evidence, shift)
        # Where few of the faces show a pixel (the rest is padding), its median rests on few faces: fade it out.
        ratio = np.nan_to_num(ratio, nan=0.0) * np.clip(share / MIN_COVERED_SHARE, 0.0, 1.0)
        maps.append(finish_log_ratio(ratio, reference * size))
    return np.stack(maps).astype(np.float32)


def _contrast_share(evidence: _Evidence, shift: ExpressionShift) -> np.ndarray:
    """Per pixel, the share of a contrast's faces (its expression's chosen faces and its neutrals) that show it."""
    total, weight = 0.0, 0
    for source, keep in shift.chosen.items():
        faces = [evidence.groups[(source, shift.expression)][i] for i in keep]
        neutrals = evidence.groups[(source, NEUTRAL)]
        if faces and neutrals:
            total, weight = total + len(keep) * np.minimum(_covered_share(faces), _covered_share(neutrals)), weight + len(keep)
    return total / weight if weight else np.ones(1)


MIN_OPENING = 0.08
"""Training photos whose lips part at least this much (inner mouth widths) teach the mouth interior."""
CAVITY_PRIOR = 2.0
"""Where fewer photos than about this cover a template point, its colour leans to the cavity's."""
DARK = 0.35
"""Interior pixels darker than this fraction of the face's light level count as the cavity."""
MIN_MOUTH_PHOTOS = 20
"""An expression needs this many training photos with parted lips for an interior of its own."""
BRIGHT_SHARE = 0.2
"""The brightest fifth of the colour template stands for the colour of teeth."""
TEETH_RAMP = 0.2
"""Greyscale-learned interiors turn from cavity to teeth over this share of the range between their levels."""


@dataclass(frozen=True)
class MouthTemplate:
    """The learned mouth interiors (:mod:`faceedit.core.models.mouth`), one per expression, and what they rest on."""

    template: np.ndarray  # K×3×rows×columns, RGB relative to the face's light level (mouth.light_level)
    photos: dict[str, int]  # expression → training photos with open mouths its interior was learned from
    cavity: np.ndarray  # RGB of the cavity, relative to the face's light level
    sources: dict[str, str]  # expression → "colour" (its own colour photos) or "luminance" (its photos' grey levels, coloured)


@dataclass
class _Interior:
    """Running coverage-weighted sums of sampled mouth interiors."""

    total: np.ndarray
    coverage: np.ndarray
    photos: int = 0

    @classmethod
    def empty(cls, channels: int) -> _Interior:
        from faceedit.core.models import mouth

        return cls(np.zeros((mouth.TEMPLATE_ROWS, mouth.TEMPLATE_COLUMNS, channels)), np.zeros((mouth.TEMPLATE_ROWS, mouth.TEMPLATE_COLUMNS)))

    def add(self, ratio: np.ndarray, covered: np.ndarray) -> None:
        self.total += ratio * covered[..., None]
        self.coverage += covered
        self.photos += 1

    def mean(self, prior: np.ndarray) -> np.ndarray:
        """rows×columns×C: the mean where photos cover a point, leaning to ``prior`` where few do."""
        return (self.total + CAVITY_PRIOR * prior) / (self.coverage[..., None] + CAVITY_PRIOR)


def _coloured(luma: np.ndarray, cavity: np.ndarray, colour: np.ndarray) -> np.ndarray:
    """rows×columns luminance ratios of greyscale photos → RGB with the colour photos' levels.

    A point whose luminance is past the middle between the colour photos' cavity and teeth
    levels is teeth, one below it cavity, with a soft ramp of :data:`TEETH_RAMP` of that
    range between them; each takes the colour photos' own colour *and level*: the
    greyscale photos (expressions7's, upscaled from 48 pixels) say where teeth show, but
    their few pixels between the lips blur with the lips, so their levels are not kept
    (kept, a surprised mouth was a lip-coloured band rather than a dark opening). The
    teeth are the mean of the brightest :data:`BRIGHT_SHARE` of ``colour`` (the template
    learned from colour photos).
    """
    weights = np.array(LUMA_WEIGHTS)
    colour_luma = colour @ weights
    bright = colour_luma >= np.quantile(colour_luma, 1.0 - BRIGHT_SHARE)
    teeth = colour[bright].mean(axis=0)
    cavity_luma, teeth_luma = float(cavity @ weights), float(teeth @ weights)
    middle, width = (cavity_luma + teeth_luma) / 2.0, max(TEETH_RAMP * (teeth_luma - cavity_luma), 1e-6)
    blend = np.clip((luma - middle) / width + 0.5, 0.0, 1.0)[..., None]
    return (1.0 - blend) * cavity + blend * teeth


def fit_mouth(prepared: list[Path], size: int, template_points: np.ndarray) -> MouthTemplate:
    """Each expression's mouth interior from the training photos whose lips are parted.

    Each source photo is sampled at its own resolution in mouth coordinates; its colours
    are divided by the face's light level, measured as the model will measure it (in
    the model's aligned crop of ``size`` with its alignment ``template_points``).

    Interiors differ by expression: an open smile shows a band of upper teeth, a surprised
    mouth is mostly dark cavity. So each expression learns its own, from its own photos:
    in colour where it has :data:`MIN_MOUTH_PHOTOS` colour photos (London's smiles);
    otherwise from its photos' luminance (expressions7's greyscale majority), which says
    where teeth show and where the cavity, painted with the colour photos' cavity and teeth
    colours and levels (:func:`_coloured`). An expression with fewer
    photos than that takes the interior of all colour photos. Where few photos cover a
    point (deep in a wide-open mouth), a template leans to the mean colour of the cavity
    (the dark interior pixels of the colour photos).
    """
    from faceedit.core.alignment import align_face
    from faceedit.core.models import mouth

    colour_all = _Interior.empty(3)
    colour_by = {e: _Interior.empty(3) for e in EXPRESSIONS}
    luma_by = {e: _Interior.empty(1) for e in EXPRESSIONS}
    dark_sum, dark_count = np.zeros(3), 0
    for folder in prepared:
        _, records = read_prepared(folder)
        for record in records:
            if record.split != "train" or record.label == NEUTRAL or not record.source_landmarks:
                continue
            points = np.asarray(record.source_landmarks, np.float64)
            if mouth.opening(points) < MIN_OPENING:
                continue
            try:
                pixels = load_photo(Path(record.source)).pixels
            except (OSError, FaceeditError):
                continue
            aligned = align_face(pixels, points, size, template_points)
            light = max(mouth.light_level(rgb_to_luma(aligned.crop)[:, :, 0].astype(np.float32), aligned.landmarks), 1.0)
            values, covered = mouth.sample_interior(pixels, points)
            ratio = values / light
            luma = ratio @ np.array(LUMA_WEIGHTS)
            luma_by[record.label].add(luma[..., None], covered)
            if _greyscale(pixels):
                continue  # greyscale: its luminance counts, it has no colour to teach
            colour_all.add(ratio, covered)
            colour_by[record.label].add(ratio, covered)
            dark = (covered > 0) & (luma < DARK)
            dark_sum += ratio[dark].sum(axis=0)
            dark_count += int(dark.sum())
    if colour_all.photos == 0:
        raise FaceeditError("no colour training photo with parted lips to learn the mouth interior from")
    cavity = dark_sum / dark_count if dark_count else np.array([0.25, 0.15, 0.15])
    shared = colour_all.mean(cavity)
    templates, photos, sources = [], {}, {}
    for expression in EXPRESSIONS:
        if colour_by[expression].photos >= MIN_MOUTH_PHOTOS:
            templates.append(colour_by[expression].mean(cavity))
            photos[expression], sources[expression] = colour_by[expression].photos, "colour"
        elif luma_by[expression].photos >= MIN_MOUTH_PHOTOS:
            luma = luma_by[expression].mean(np.array([float(cavity @ np.array(LUMA_WEIGHTS))]))[..., 0]
            templates.append(_coloured(luma, cavity, shared))
            photos[expression], sources[expression] = luma_by[expression].photos, "luminance"
        else:
            templates.append(shared)
            photos[expression], sources[expression] = colour_all.photos, "colour"
    stacked = np.stack([t.transpose(2, 0, 1) for t in templates]).astype(np.float32)
    return MouthTemplate(stacked, photos, cavity, sources)


def with_geometry(
    model_path: Path, shifts: list[ExpressionShift], reference: np.ndarray, output: Path, overwrite: bool,
    appearance: np.ndarray | None = None, mouth_template: MouthTemplate | None = None, recipe: str = "",
    warped_network: bool = False,
) -> None:
    """Write ``model_path``'s network with ``shifts`` as its geometry (and ``appearance`` maps
    and a mouth interior, if given) to ``output``; ``recipe`` (how the faces were chosen)
    goes into its provenance notes. ``warped_network``: the network was trained on faces
    warped onto ``reference`` (``faceedit-train warp``) and draws the appearance per face."""
    model = load_model(model_path, "cpu", "fp32")
    family = model.info.family
    options = {f.name: f.default for f in fields(model.info.config)}
    if not {"geometry", "appearance", "mouth_interior"} <= set(options):
        raise FaceeditError(f"{model_path} is a {family.title} model, whose family carries no geometry")
    # The network's own appearance is the config's default ("decoder" for ExprGAN, "network" elsewhere).
    chosen = "warped_network" if warped_network else "mean_ratio" if appearance is not None else options["appearance"]
    try:
        config = replace(model.info.config, geometry=True, appearance=chosen, mouth_interior=mouth_template is not None)
    except ValueError as error:  # e.g. a family that cannot draw warped-frame appearance
        raise FaceeditError(f"{model_path}: {error}") from error
    network = family.build(config)
    network.load_state_dict(model.network.state_dict(), strict=False)
    network.landmark_shifts.copy_(torch.from_numpy(np.stack([s.shifts for s in shifts])).float())
    network.landmark_reference.copy_(torch.from_numpy(reference).float())
    if appearance is not None:
        network.appearance_log_ratio.copy_(torch.from_numpy(appearance))
    if mouth_template is not None:
        network.mouth_template.copy_(torch.from_numpy(mouth_template.template))
    p = model.info.provenance
    learned = ", ".join(f"{s.expression} from {s.faces} {s.source}" for s in shifts)
    what = ("Geometry (appearance drawn per face by a network trained in the mean face's frame)" if warped_network
            else "Geometry and appearance ratios" if appearance is not None else "Geometry")
    how = f" ({recipe})" if recipe else ""
    notes = (p.notes + " " if p.notes else "") + f"{what} learned by faceedit-train geometry{how}: {learned}."
    if mouth_template is not None:
        notes += " Mouth interiors learned from training photos with parted lips: " + ", ".join(
            f"{e} {mouth_template.photos[e]} ({mouth_template.sources[e]})" for e in EXPRESSIONS) + "."
    half = "float16" in model.info.storage_dtype
    save_model(output, network, provenance=Provenance(p.data, p.steps, p.commit, p.date, notes),
               metrics={}, template=model.info.template, half=half, overwrite=overwrite, family_name=family.name)


def describe(shifts: list[ExpressionShift]) -> list[str]:
    """One line per expression: its source and a few landmarks' displacement, in % of the crop side (y up)."""
    # dlib points: 48/54 mouth corners, 51/57 upper/lower lip middle, 21/22 inner brows, 8 chin.
    lines = []
    for s in shifts:
        corner = (s.shifts[54] - s.shifts[48]) / 2 * 100  # outward
        lines.append(
            f"{s.expression:10s} {s.source:8s} {s.faces:5d}  mouth corners x{corner[0]:+.2f} y{-(s.shifts[48, 1] + s.shifts[54, 1]) / 2 * 100:+.2f}"
            f"  upper lip y{-s.shifts[51, 1] * 100:+.2f}  lower lip y{-s.shifts[57, 1] * 100:+.2f}"
            f"  inner brows y{-(s.shifts[21, 1] + s.shifts[22, 1]) / 2 * 100:+.2f}  chin y{-s.shifts[8, 1] * 100:+.2f}"
        )
    return lines


def _apex_setting(text: str) -> tuple[str, float]:
    """``EXPRESSION=F`` → (expression, fraction); argparse turns a ValueError into one line."""
    name, _, value = text.partition("=")
    try:
        return name.strip().lower(), float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected EXPRESSION=F (e.g. anger=0.3), not {text!r}") from None


def add_geometry_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", metavar="MODEL", type=Path, help="a model file of any family (its network keeps drawing the appearance unless --appearance)")
    parser.add_argument("prepared", metavar="PREPARED", type=Path, nargs="+", help="prepared folders to learn from (train split)")
    parser.add_argument("-o", "--output", metavar="OUT", type=Path, required=True, help="the model file to write")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    drawn = parser.add_mutually_exclusive_group()
    drawn.add_argument("--appearance", action="store_true",
                       help="also learn each expression's mean luminance ratio and use it instead of the network's own change")
    drawn.add_argument("--warped-network", metavar="WARPED", type=Path,
                       help="MODEL was trained on WARPED (made by `faceedit-train warp`): measure the geometry in WARPED's "
                       "frame, and let the network draw each face's appearance in it")
    parser.add_argument("--apex", type=float, default=1.0, metavar="F",
                        help="intensity 1.0 = the mean of the F (0–1] of each expression's faces that show it most "
                        "strongly (default 1: the mean of all)")
    parser.add_argument("--contrast-apex", type=float, metavar="F",
                        help="the same for expressions learned from class contrasts (default: --apex)")
    parser.add_argument("--contrast-ranking", choices=RANKINGS, default="displacement",
                        help="which faces of a class contrast show an expression most strongly (for --contrast-apex and "
                        "--apex-for below 1): displacement = furthest from neutral (default); typical = most typical of "
                        "the class to a landmark-shape classifier over all classes (what sets it apart from the others)")
    parser.add_argument("--apex-for", action="append", default=[], type=_apex_setting, metavar="EXPRESSION=F",
                        help="the same for one expression, overriding --apex and --contrast-apex (repeatable), "
                        "e.g. --apex-for surprise=1 --apex-for anger=0.3")
    parser.add_argument("--mouth", action="store_true",
                        help="also learn the mouth interior (teeth, cavity) from colour training photos with parted lips, "
                        "painted where an expression opens the mouth")


def _recipe(args: argparse.Namespace) -> str:
    """The options that chose the faces, as the model's notes record them."""
    parts = [f"apex {args.apex:g}"]
    if args.contrast_apex is not None:
        parts.append(f"contrast apex {args.contrast_apex:g}")
    parts.append(f"contrast ranking {args.contrast_ranking}")
    parts += [f"{name} {value:g}" for name, value in args.apex_for]
    return ", ".join(parts)


def run_geometry(args: argparse.Namespace) -> int:
    if args.warped_network is not None:
        from trainer.warp import warped_reference

        reference = warped_reference(args.warped_network)  # the frame the network learned in
    else:
        reference = reference_face(list(args.prepared))
    shifts = fit_geometry(list(args.prepared), reference, args.apex, args.contrast_apex, dict(args.apex_for), args.contrast_ranking)
    print("learned (per expression: source, faces; % of the crop side, y up):")
    for line in describe(shifts):
        print("  " + line)
    from faceedit.core.models.file import read_model_info

    info = read_model_info(args.model)
    appearance = mouth_template = None
    if args.appearance:
        appearance = fit_appearance(list(args.prepared), reference, shifts, info.config.image_size)
    if args.mouth:
        mouth_template = fit_mouth(list(args.prepared), info.config.image_size, info.template)
        print("mouth interiors from training photos with parted lips: " + ", ".join(
            f"{e} {mouth_template.photos[e]} {mouth_template.sources[e]}" for e in EXPRESSIONS)
            + f"; cavity RGB {np.round(mouth_template.cavity, 2).tolist()} of the light level")
    with_geometry(args.model, shifts, reference, args.output, args.overwrite, appearance, mouth_template, _recipe(args),
                  warped_network=args.warped_network is not None)
    print(f"wrote {args.output}")
    return 0
