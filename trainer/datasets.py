"""Discovery: which images of a dataset folder to prepare, with label, intensity, subject and split.

Three layouts are understood (``kind``):

``oulu``
    Oulu-CASIA NIR&VIS as licensed copies are unpacked::

        ROOT/[…/]OriginalImg/{VL,NI}/{Strong,Weak,Dark}/P001/Anger/000.jpeg …
        ROOT/[…/]PreProcess_Img/{VL,NI}_Acropped/Strong/P001/Anger/000.jpeg …   (pre-cropped faces)

    Tolerated: extra unpacking levels above the tree, ``PreProcessImg``, ``.jpg``, names
    in any case, missing or empty sequences (reported, not fatal). Protocol of ExprGAN:
    the last :data:`PEAK_FRAMES` frames of a sequence are that expression at intensity
    1.0, the first frame is neutral (0.0); P001–P072 train, P073–P080 test.
    ``mid_frames`` adds the frames in between at intensity = frame index / last index.

``folders``
    One folder per expression (``anger``/``angry``, …, ``neutral``; any case), such as
    expressions7. Images directly inside an expression folder have an unknown subject
    (``""``) and are split at random, per label (stratified), by ``test_fraction``.
    Sub-folders of an expression folder are taken to name subjects
    (``happiness/S010/001.png``): those images carry that subject and the split is
    subject-disjoint (the same subject name in two expression folders is one person).

``pairs``
    Paired folders of the same people, such as the London set: ``neutral/NNN.jpg`` and
    ``smiling/NNN.jpg`` (smiling = happiness at 1.0). The subject is the file stem;
    the split is subject-disjoint.

Splits of known subjects: ``test_subjects`` if given, else fold ``fold`` of ``folds``
(sorted subjects in contiguous chunks), else the kind's default (the Oulu protocol, or a
seeded random ``test_fraction`` of the subjects). Everything is deterministic.

Nothing here reads pixels; :mod:`trainer.prepare` does.
"""

from __future__ import annotations

import dataclasses
import math
import random
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from faceedit.core.errors import FaceeditError
from faceedit.core.expressions import EXPRESSIONS, NEUTRAL
from faceedit.core.imageio import is_photo_path
from faceedit.training.datasets import (
    KINDS,
    LABEL_ALIASES,
    OULU_CROPPED_TREES,
    OULU_ORIGINAL_TREES,
    PAIR_NEUTRAL,
    PAIR_SMILING,
    SEARCH_DEPTH,
    check_dataset,
    visible_subdirs,
)

SPECTRA: tuple[str, ...] = ("VL", "NI")
ILLUMINATIONS: tuple[str, ...] = ("Strong", "Weak", "Dark")
TREES: tuple[str, ...] = ("original", "cropped")

LABEL_ORDER: tuple[str, ...] = (*EXPRESSIONS, NEUTRAL)  # trainer.manifest.LABELS

PEAK_FRAMES = 3
"""Frames at the end of an Oulu-CASIA sequence taken as the expression's peak (the paper's protocol)."""

OULU_LAST_TRAIN_SUBJECT = 72
"""P001–P072 train, P073 onwards test (the paper's protocol)."""

# KINDS, LABEL_ALIASES, the pair and Oulu tree folder names and SEARCH_DEPTH are shared
# with the engine's dataset check: faceedit.training.datasets owns them.
_SUBJECT = re.compile(r"^p(\d{3})$", re.IGNORECASE)

EXPECTED_LAYOUTS: dict[str, str] = {
    "oulu": "Oulu-CASIA: ROOT/[…/]OriginalImg/VL/Strong/P001/Anger/000.jpeg (or PreProcess_Img/VL_Acropped/Strong/…)",
    "folders": "expression folders: ROOT/anger/*.jpg, ROOT/happiness/*.jpg, ROOT/neutral/*.jpg … "
    "(anger/angry, disgust, fear, happiness/happy, sadness/sad, surprise, neutral; any case)",
    "pairs": "paired folders: ROOT/neutral/001.jpg and ROOT/smiling/001.jpg with the same file names",
}


@dataclass(frozen=True)
class SourceImage:
    """One image to prepare: its label (one of trainer.manifest.LABELS) at ``intensity`` in [0, 1]."""

    path: Path
    label: str
    intensity: float
    subject: str  # "" when unknown
    split: str  # "train" or "test"


@dataclass(frozen=True)
class DatasetOptions:
    """What to take from a dataset and how to split it. Invalid values raise FaceeditError."""

    spectrum: str = "VL"  # oulu: VL (visible light) or NI (near infrared)
    illumination: str = "Strong"  # oulu: Strong, Weak or Dark
    tree: str = "original"  # oulu: "original" (OriginalImg) or "cropped" (PreProcess_Img)
    include_neutral: bool = True
    mid_frames: bool = False  # oulu: also the frames between the first and the peak ones
    folds: int | None = None  # k-fold by subject (all kinds; by image where subjects are unknown)
    fold: int | None = None  # which fold (0-based) is the test split
    test_fraction: float = 0.1  # folders and pairs: share of subjects (or images) held out
    test_subjects: tuple[str, ...] | None = None  # explicit held-out subjects (overrides the rest)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.spectrum.upper() not in SPECTRA:
            raise FaceeditError(f"unknown spectrum {self.spectrum!r}; use one of {', '.join(SPECTRA)}")
        if self.illumination.lower() not in {i.lower() for i in ILLUMINATIONS}:
            raise FaceeditError(f"unknown illumination {self.illumination!r}; use one of {', '.join(ILLUMINATIONS)}")
        if self.tree not in TREES:
            raise FaceeditError(f"unknown Oulu-CASIA tree {self.tree!r}; use one of {', '.join(TREES)}")
        if (self.folds is None) != (self.fold is None):
            raise FaceeditError("--folds K and --fold I go together")
        if self.folds is not None and self.fold is not None:
            if self.folds < 2:
                raise FaceeditError(f"--folds must be at least 2, not {self.folds}")
            if not 0 <= self.fold < self.folds:
                raise FaceeditError(f"--fold must be between 0 and {self.folds - 1}, not {self.fold}")
        if not 0.0 <= self.test_fraction < 1.0:
            raise FaceeditError(f"--test-fraction must be in [0, 1), not {self.test_fraction}")


@dataclass
class Discovery:
    """What discovery found: the images, and the sources it passed over (path, reason)."""

    kind: str
    root: Path  # the dataset's own folder (below any unpacking levels)
    images: list[SourceImage]
    skipped: list[tuple[str, str]] = field(default_factory=list)
    precropped: bool = False  # images are face crops: whole-frame landmarks are a fair fallback


def discover(root: Path | str, kind: str = "auto", options: DatasetOptions | None = None) -> list[SourceImage]:
    """The images of the dataset at ``root`` (see :func:`scan`, which also says what was passed over)."""
    return scan(root, kind, options).images


def scan(root: Path | str, kind: str = "auto", options: DatasetOptions | None = None) -> Discovery:
    """Find the images of the dataset at ``root``; ``kind`` is "auto" or one of :data:`KINDS`.

    Raises FaceeditError for a missing root, a layout that is not ``kind`` (or none of
    them, for "auto"; the message lists what was expected), an empty class, or no images.
    """
    options = options or DatasetOptions()
    root = Path(root)
    if not root.exists():
        raise FaceeditError(f"dataset folder {root} does not exist")
    if not root.is_dir():
        raise FaceeditError(f"dataset {root} is a file, not a folder")
    if kind == "auto":
        kind = detect_kind(root)
    scanners: dict[str, Callable[[Path, DatasetOptions], Discovery]] = {
        "oulu": scan_oulu,
        "folders": scan_folders,
        "pairs": scan_pairs,
    }
    if kind not in scanners:
        raise FaceeditError(f"unknown dataset kind {kind!r}; use auto, {', '.join(KINDS)}")
    found = scanners[kind](root, options)
    if not found.images:
        raise FaceeditError(f"no images to prepare in {root} ({kind} layout)")
    return found


def detect_kind(root: Path) -> str:
    """The layout of ``root``: "oulu", "pairs" or "folders"; FaceeditError listing what was expected.

    :func:`faceedit.training.datasets.check_dataset` decides, the check behind the retrain
    dialog's hint, here with no cap on the folders searched: the two agree wherever the
    hint looked far enough.
    """
    kind = check_dataset(root, max_folders=None).kind
    if kind is not None:
        return kind
    expected = "; or ".join(EXPECTED_LAYOUTS.values())
    raise FaceeditError(f"cannot tell what kind of dataset {root} is; expected {expected}")


# ------------------------------------------------------------------------------ helpers


def _photos(folder: Path) -> list[Path]:
    """Image files directly in ``folder``, sorted by name."""
    try:
        return sorted((p for p in folder.iterdir() if p.is_file() and is_photo_path(p)), key=lambda p: p.name)
    except OSError:
        return []


def _child(folder: Path, names: Iterable[str]) -> Path | None:
    """The sub-folder of ``folder`` whose name is one of ``names``, compared case-insensitively."""
    wanted = [n.lower() for n in names]
    matches = {p.name.lower(): p for p in visible_subdirs(folder)}
    return next((matches[n] for n in wanted if n in matches), None)


def _find_dirs(root: Path, names: Sequence[str], depth: int = SEARCH_DEPTH) -> list[Path]:
    """Folders named one of ``names`` (any case) at ``root`` or up to ``depth`` levels below, shallowest first."""
    wanted = {n.lower() for n in names}
    level, found = [root], []
    for _ in range(depth + 1):
        found += [p for p in level if p.name.lower() in wanted]
        if found:
            return found
        level = [child for p in level for child in visible_subdirs(p)]
    return found


def _descend(root: Path, accept: Callable[[Path], bool]) -> Path | None:
    """``root`` or the folder below it, through single-folder unpacking levels, that ``accept`` takes."""
    folder = root
    for _ in range(SEARCH_DEPTH + 1):
        if accept(folder):
            return folder
        children = visible_subdirs(folder)
        if len(children) != 1 or _photos(folder):
            return None
        folder = children[0]
    return None


def _label_dirs(folder: Path) -> dict[str, Path]:
    """Expression folders of ``folder`` by label (the first alias wins if two name one label)."""
    labels: dict[str, Path] = {}
    for child in visible_subdirs(folder):
        label = LABEL_ALIASES.get(child.name.lower())
        if label is not None:
            labels.setdefault(label, child)
    return labels


def _frame_key(path: Path) -> tuple[int, int | str]:
    """Sort frames numerically where the stem is a number (``9.jpeg`` before ``10.jpeg``)."""
    stem = path.stem
    return (0, int(stem)) if stem.isdigit() else (1, stem.lower())


def _test_units(
    units: Iterable[str], options: DatasetOptions, default: Callable[[list[str]], set[str]], *, shuffle_folds: bool = False
) -> set[str]:
    """The held-out units (subjects, or images where subjects are unknown); deterministic.

    ``test_subjects`` wins, then ``folds``/``fold`` (sorted units in contiguous chunks;
    seeded-shuffled first with ``shuffle_folds``, for images whose file order may follow
    their source), then the kind's ``default`` rule.
    """
    ordered = sorted(set(units))
    if options.test_subjects is not None:
        return set(options.test_subjects) & set(ordered)
    if options.folds is not None and options.fold is not None:
        k = options.folds
        if shuffle_folds:
            random.Random(options.seed).shuffle(ordered)
        return {u for i, u in enumerate(ordered) if i * k // max(len(ordered), 1) == options.fold}
    return default(ordered)


def _random_fraction(options: DatasetOptions) -> Callable[[list[str]], set[str]]:
    """A seeded random ``test_fraction`` of the units, rounded half up, never all of them."""

    def rule(ordered: list[str]) -> set[str]:
        if options.test_fraction <= 0 or len(ordered) < 2:
            return set()
        count = min(len(ordered) - 1, math.floor(options.test_fraction * len(ordered) + 0.5))
        shuffled = list(ordered)
        random.Random(options.seed).shuffle(shuffled)
        return set(shuffled[:count])

    return rule


def _check_test_subjects(options: DatasetOptions, subjects: Iterable[str], root: Path) -> None:
    """An explicit test subject that is not in the dataset is a typo worth one clear line."""
    if options.test_subjects is None:
        return
    unknown = sorted(set(options.test_subjects) - set(subjects))
    if unknown:
        raise FaceeditError(f"--test-subjects names subjects not in {root}: {', '.join(unknown[:10])}")


def _split(unit: str, test: set[str]) -> str:
    return "test" if unit in test else "train"


# ------------------------------------------------------------------------------ oulu


def _oulu_subject_number(subject: str) -> int:
    return int(subject[1:])


def _oulu_protocol(ordered: list[str]) -> set[str]:
    return {s for s in ordered if _oulu_subject_number(s) > OULU_LAST_TRAIN_SUBJECT}


def oulu_images_root(root: Path, options: DatasetOptions) -> Path:
    """The folder holding P001… for the chosen tree, spectrum and illumination; FaceeditError if absent."""
    tree_names = OULU_CROPPED_TREES if options.tree == "cropped" else OULU_ORIGINAL_TREES
    trees = _find_dirs(root, tree_names)
    if not trees:
        other = _find_dirs(root, OULU_ORIGINAL_TREES if options.tree == "cropped" else OULU_CROPPED_TREES)
        hint = f" (found {other[0]}; choose it with --tree {'original' if options.tree == 'cropped' else 'cropped'})" if other else ""
        expected = "PreProcess_Img" if options.tree == "cropped" else "OriginalImg"
        raise FaceeditError(f"no {expected} folder in {root}{hint}; expected {EXPECTED_LAYOUTS['oulu']}")
    tree = trees[0]
    spectrum = options.spectrum.upper()
    spectrum_names = (f"{spectrum}_Acropped", spectrum) if options.tree == "cropped" else (spectrum,)
    spectrum_dir = _child(tree, spectrum_names)
    if spectrum_dir is None:
        have = ", ".join(p.name for p in visible_subdirs(tree)) or "nothing"
        raise FaceeditError(f"{tree} has no {spectrum_names[0]} folder (it has {have})")
    illumination_dir = _child(spectrum_dir, (options.illumination,))
    if illumination_dir is None:
        have = ", ".join(p.name for p in visible_subdirs(spectrum_dir)) or "nothing"
        raise FaceeditError(f"{spectrum_dir} has no {options.illumination} folder (it has {have})")
    return illumination_dir


def oulu_sequence(frames: list[Path], label: str, options: DatasetOptions) -> list[tuple[Path, str, float]]:
    """(frame, label, intensity) for one sequence, neutral → peak, by the paper's protocol.

    The first frame is neutral; the last :data:`PEAK_FRAMES` (never the first) are the
    peak at 1.0; with ``mid_frames`` the frames between are ``label`` at index / last index.
    """
    count = len(frames)
    if count < 2:
        return []
    last = count - 1
    peak_start = max(1, count - PEAK_FRAMES)
    taken: list[tuple[Path, str, float]] = []
    if options.include_neutral:
        taken.append((frames[0], NEUTRAL, 0.0))
    if options.mid_frames:
        taken += [(frames[i], label, i / last) for i in range(1, peak_start)]
    taken += [(frames[i], label, 1.0) for i in range(peak_start, count)]
    return taken


def scan_oulu(root: Path, options: DatasetOptions) -> Discovery:
    """Oulu-CASIA (see the module docstring). Missing and too-short sequences are listed as skipped."""
    images_root = oulu_images_root(root, options)
    subjects: dict[str, Path] = {}
    for child in visible_subdirs(images_root):
        match = _SUBJECT.match(child.name)
        if match:
            subjects.setdefault(f"P{match.group(1)}", child)
    if not subjects:
        raise FaceeditError(f"{images_root} has no subject folders P001…P080; expected {EXPECTED_LAYOUTS['oulu']}")
    if options.test_subjects is not None:  # "p073" and "P073" name the same subject
        named = tuple(s.upper() if _SUBJECT.match(s) else s for s in options.test_subjects)
        options = dataclasses.replace(options, test_subjects=named)
    _check_test_subjects(options, subjects, images_root)
    test = _test_units(subjects, options, _oulu_protocol)

    images: list[SourceImage] = []
    skipped: list[tuple[str, str]] = []
    per_label = dict.fromkeys(EXPRESSIONS, 0)
    for subject, folder in sorted(subjects.items()):
        sequences = _label_dirs(folder)
        for label in EXPRESSIONS:
            sequence = sequences.get(label)
            if sequence is None:
                skipped.append((str(folder / label.capitalize()), "missing sequence"))
                continue
            frames = sorted(_photos(sequence), key=_frame_key)
            taken = oulu_sequence(frames, label, options)
            if not taken:
                skipped.append((str(sequence), f"sequence too short ({len(frames)} frame(s), at least 2 needed)"))
                continue
            per_label[label] += 1
            split = _split(subject, test)
            images += [SourceImage(path, lab, intensity, subject, split) for path, lab, intensity in taken]
    empty = [label for label, n in per_label.items() if n == 0]
    if empty:
        raise FaceeditError(f"{images_root} has no usable {', '.join(empty)} sequence in any subject")
    return Discovery("oulu", images_root, images, skipped, precropped=options.tree == "cropped")


# ------------------------------------------------------------------------------ folders


def _folders_root(root: Path) -> Path | None:
    # Two or more expression folders: one folder called "happy" is not yet a dataset.
    return _descend(root, lambda folder: len(_label_dirs(folder)) >= 2)


def scan_folders(root: Path, options: DatasetOptions) -> Discovery:
    """Expression folders (see the module docstring). An expression folder without images is an error."""
    base = _folders_root(root)
    if base is None:
        raise FaceeditError(f"{root} is not a folder of expression folders; expected {EXPECTED_LAYOUTS['folders']}")
    # (path, label, subject) for every image; subject "" when the image sits directly in the class folder.
    found: list[tuple[Path, str, str]] = []
    for label, folder in sorted(_label_dirs(base).items(), key=lambda item: LABEL_ORDER.index(item[0])):
        if label == NEUTRAL and not options.include_neutral:
            continue
        entries = [(p, label, "") for p in _photos(folder)]
        entries += [(p, label, sub.name) for sub in visible_subdirs(folder) for p in _photos(sub)]
        if not entries:
            raise FaceeditError(f"expression folder {folder} has no images")
        found += entries

    subjects = {s for _, _, s in found if s}
    _check_test_subjects(options, subjects, base)
    test_subjects = _test_units(subjects, options, _random_fraction(options))
    # Images of unknown subjects: split per label, so every class is held out in proportion.
    anonymous_options = dataclasses.replace(options, test_subjects=None)  # named subjects can't apply to them
    test_images: set[str] = set()
    for label in LABEL_ORDER:
        anonymous = [str(p) for p, lab, s in found if lab == label and not s]
        test_images |= _test_units(anonymous, anonymous_options, _random_fraction(options), shuffle_folds=True)
    images = [
        SourceImage(p, label, 0.0 if label == NEUTRAL else 1.0, subject,
                    _split(subject, test_subjects) if subject else _split(str(p), test_images))
        for p, label, subject in found
    ]  # fmt: skip
    return Discovery("folders", base, images, precropped=True)


# ------------------------------------------------------------------------------ pairs


def _pair_dirs(folder: Path) -> tuple[Path, Path] | None:
    neutral, smiling = _child(folder, PAIR_NEUTRAL), _child(folder, PAIR_SMILING)
    if neutral is None or smiling is None:
        return None
    return neutral, smiling


def scan_pairs(root: Path, options: DatasetOptions) -> Discovery:
    """Paired neutral/smiling folders (see the module docstring); the subject is the file stem."""
    base = _descend(root, lambda folder: _pair_dirs(folder) is not None)
    dirs = None if base is None else _pair_dirs(base)
    if base is None or dirs is None:
        raise FaceeditError(f"{root} has no paired neutral/ and smiling/ folders; expected {EXPECTED_LAYOUTS['pairs']}")
    neutral_dir, smiling_dir = dirs
    neutral, smiling = _photos(neutral_dir), _photos(smiling_dir)
    for folder, photos in ((neutral_dir, neutral), (smiling_dir, smiling)):
        if not photos:
            raise FaceeditError(f"folder {folder} has no images")
    subjects = {p.stem for p in neutral} | {p.stem for p in smiling}
    _check_test_subjects(options, subjects, base)
    test = _test_units(subjects, options, _random_fraction(options))
    # Unpaired files are still a known person's face with a known expression: kept.
    images = [SourceImage(p, "happiness", 1.0, p.stem, _split(p.stem, test)) for p in smiling]
    if options.include_neutral:
        images = [SourceImage(p, NEUTRAL, 0.0, p.stem, _split(p.stem, test)) for p in neutral] + images
    return Discovery("pairs", base, images)


__all__ = [
    "EXPECTED_LAYOUTS",
    "PEAK_FRAMES",
    "DatasetOptions",
    "Discovery",
    "SourceImage",
    "detect_kind",
    "discover",
    "oulu_images_root",
    "oulu_sequence",
    "scan",
    "scan_folders",
    "scan_oulu",
    "scan_pairs",
]
