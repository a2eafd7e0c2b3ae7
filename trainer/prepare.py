"""``faceedit-train prepare``: align every face of a dataset the way the app does, and write PREPARED.

Per image (in a pool of worker processes, each with its own dlib detector):

1. :func:`faceedit.core.imageio.load_photo`; an unreadable file is skipped and listed.
2. :meth:`FaceDetector.detect`, largest face. Pre-cropped faces often fill the frame and
   the HOG detector misses them, so a miss is retried on the image padded by
   :data:`PAD_PIXELS` of edge colour (measured on expressions7: 53–87 % → 77–92 %
   found), with the landmarks mapped back.
3. Still nothing: for pre-cropped datasets (folder datasets, the Oulu-CASIA cropped tree)
   ``undetected="fullframe"`` runs the 68-point predictor with the whole frame as the
   face box and records ``detected: false``; ``"skip"`` (and any full photo, where the
   frame is not a face box) skips the image. The report counts both.
4. :func:`faceedit.core.alignment.align_face` with the template recorded in
   prepare.json; the crop is saved as PNG under ``faces/`` by the worker (pixels never
   travel between processes).

The output format is :mod:`trainer.manifest`'s.
"""

from __future__ import annotations

import argparse
import csv
import io
import multiprocessing
import os
import shutil
import sys
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from faceedit.core.alignment import TEMPLATE_5, align_face
from faceedit.core.atomic import write_text_atomic
from faceedit.core.errors import FaceeditError, PhotoError
from faceedit.core.faces import MIN_FACE_WIDTH, FaceDetector, face_detector
from faceedit.core.imageio import load_photo, save_photo
from faceedit.training.datasets import KIND_CHOICES, KINDS
from trainer.datasets import ILLUMINATIONS, SPECTRA, TREES, DatasetOptions, Discovery, SourceImage, scan
from trainer.manifest import (
    count_faces,
    counts_table,
    FACES_DIR,
    INFO_NAME,
    MANIFEST_NAME,
    SKIPPED_NAME,
    FaceRecord,
    PreparedInfo,
    write_prepared,
)

PAD_PIXELS = 40
"""Edge-colour padding for the second detection attempt on a face that fills its frame."""

MIN_IMAGE_SIDE = 16
"""Images smaller than this (either side) hold no face worth aligning."""

UNDETECTED_CHOICES: tuple[str, ...] = ("fullframe", "skip")

# How a face was found (or not); the report counts each.
DETECTED, PADDED, FULLFRAME, NOT_FOUND = "detected", "padded", "fullframe", "not found"


def default_workers() -> int:
    """One worker per core this process may use (dlib's detector is single-threaded)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class PrepareOptions:
    """Everything ``prepare`` needs besides ROOT and PREPARED. Invalid values raise FaceeditError."""

    kind: str = "auto"  # one of faceedit.training.datasets.KIND_CHOICES
    size: int = 128  # crop side in pixels
    dataset: DatasetOptions = field(default_factory=DatasetOptions)
    undetected: str = "fullframe"  # pre-cropped faces the detector misses: "fullframe" or "skip"
    workers: int = field(default_factory=default_workers)
    overwrite: bool = False
    progress: bool = True  # a tqdm bar on stderr (when it is a terminal)

    def __post_init__(self) -> None:
        if self.kind not in KIND_CHOICES:
            raise FaceeditError(f"unknown dataset kind {self.kind!r}; use auto, {', '.join(KINDS)}")
        if not 16 <= self.size <= 1024:
            raise FaceeditError(f"--size must be between 16 and 1024 pixels, not {self.size}")
        if self.undetected not in UNDETECTED_CHOICES:
            raise FaceeditError(f"--undetected must be one of {', '.join(UNDETECTED_CHOICES)}, not {self.undetected!r}")
        if self.workers < 1:
            raise FaceeditError(f"--workers must be at least 1, not {self.workers}")


@dataclass(frozen=True)
class PrepareReport:
    """What ``prepare`` did: faces per split × label, skipped sources per reason, how faces were found."""

    out: Path
    kind: str
    counts: dict[str, dict[str, int]]  # split → label → faces
    skipped: dict[str, int]  # reason category → sources
    found: dict[str, int]  # DETECTED / PADDED / FULLFRAME / NOT_FOUND → images
    undetected: str
    seconds: float

    @property
    def faces(self) -> int:
        return sum(sum(labels.values()) for labels in self.counts.values())

    def format(self) -> str:
        """A few lines for the terminal."""
        lines = [f"prepared {self.faces} faces ({self.kind}) in {self.out} in {self.seconds:.1f} s"]
        lines += counts_table(self.counts)
        total = sum(self.found.values())
        if total:
            parts = [f"{self.found[DETECTED]} detected", f"{self.found[PADDED]} after padding"]
            if self.undetected == "fullframe":
                parts.append(f"{self.found[FULLFRAME]} whole-frame (detected: false)")
            parts.append(f"{self.found[NOT_FOUND]} without a face")
            lines.append(f"faces found in {total} images: " + ", ".join(parts))
        if self.skipped:
            lines.append(f"skipped {sum(self.skipped.values())} (see {SKIPPED_NAME}):")
            lines += [f"  {count:>6}  {reason}" for reason, count in sorted(self.skipped.items(), key=lambda i: -i[1])]
        return "\n".join(lines)


# ------------------------------------------------------------------------------ per image


@dataclass(frozen=True)
class _Task:
    index: int
    source: SourceImage
    faces_dir: Path
    size: int
    fullframe: bool  # whole-frame landmarks allowed for a face the detector misses


@dataclass(frozen=True)
class _Outcome:
    index: int
    record: FaceRecord | None
    found: str | None  # DETECTED / PADDED / FULLFRAME / NOT_FOUND; None when the image was unreadable
    skip_reason: str | None


def locate_face(pixels: np.ndarray, detector: FaceDetector, fullframe: bool) -> tuple[np.ndarray | None, str, str | None]:
    """68 landmarks of the largest face, how they were found, and why not when unusable.

    Returns (landmarks in ``pixels`` coordinates or None, DETECTED/PADDED/FULLFRAME/NOT_FOUND,
    skip reason or None). ``fullframe`` allows whole-frame landmarks as the last resort.
    """
    # retry_padded=False: this function pads once itself and reports it as PADDED.
    how, faces, offset = DETECTED, detector.detect(pixels, retry_padded=False), 0.0
    if not faces:
        # Replicated edges give the HOG window the margin that a face filling its frame lacks.
        padded = cv2.copyMakeBorder(pixels, PAD_PIXELS, PAD_PIXELS, PAD_PIXELS, PAD_PIXELS, cv2.BORDER_REPLICATE)
        how, faces, offset = PADDED, detector.detect(padded, retry_padded=False), float(PAD_PIXELS)
    if faces:
        face = faces[0]  # largest
        if face.too_small:
            return None, how, f"face too small ({face.width} px wide, at least {MIN_FACE_WIDTH})"
        return face.landmarks - offset, how, None
    if not fullframe:
        return None, NOT_FOUND, "no face detected"
    height, width = pixels.shape[:2]
    grey = np.ascontiguousarray(cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY))  # what detect() gives the predictor
    return detector.landmarks(grey, (0, 0, width, height)), FULLFRAME, None


def _process(task: _Task) -> _Outcome:
    """Load, find, align and save one image (runs in a worker process)."""
    source = task.source
    try:
        photo = load_photo(source.path)
    except PhotoError as error:
        return _Outcome(task.index, None, None, f"unreadable image ({_detail(error, source.path)})")
    pixels = photo.pixels
    if min(pixels.shape[:2]) < MIN_IMAGE_SIDE:
        return _Outcome(task.index, None, None, f"image too small ({pixels.shape[1]}×{pixels.shape[0]})")
    landmarks, how, reason = locate_face(pixels, face_detector(), task.fullframe)
    if landmarks is None:
        return _Outcome(task.index, None, how, reason)
    aligned = align_face(pixels, landmarks, task.size, TEMPLATE_5)
    name = f"{task.index:06d}.png"
    save_photo(task.faces_dir / name, aligned.crop)
    record = FaceRecord(
        file=f"{FACES_DIR}/{name}",
        source=str(source.path),
        label=source.label,
        intensity=float(source.intensity),
        subject=source.subject,
        split=source.split,
        landmarks=np.round(aligned.landmarks, 3).tolist(),
        source_landmarks=np.round(landmarks, 3).tolist(),
        detected=how != FULLFRAME,
        source_size=[int(pixels.shape[1]), int(pixels.shape[0])],
    )
    return _Outcome(task.index, record, how, None)


def _detail(error: Exception, path: Path) -> str:
    """The error's reason without the "cannot open photo PATH: " prefix (skipped.csv names the file)."""
    text = str(error)
    prefix = f"cannot open photo {path}: "
    return text[len(prefix):] if text.startswith(prefix) else text


def _init_worker() -> None:
    face_detector()  # build this process's detector once, before the first image


# ------------------------------------------------------------------------------ the run


def check_output(root: Path, out: Path, overwrite: bool) -> None:
    """Refuse an output folder that is ROOT (or holds it), or exists non-empty without ``overwrite``."""
    root_abs, out_abs = root.resolve(), out.resolve()
    if out_abs == root_abs or out_abs in root_abs.parents:
        raise FaceeditError(f"the output folder {out} must not be the dataset folder {root} or contain it")
    if out.exists() and not out.is_dir():
        raise FaceeditError(f"output {out} is a file, not a folder")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise FaceeditError(f"output folder {out} exists and is not empty (use --overwrite to replace it)")


def _clear_output(out: Path) -> None:
    """Remove what an earlier prepare wrote (and only that), so no stale crop survives."""
    shutil.rmtree(out / FACES_DIR, ignore_errors=True)
    for name in (INFO_NAME, MANIFEST_NAME, SKIPPED_NAME):
        (out / name).unlink(missing_ok=True)


def _run_tasks(tasks: list[_Task], workers: int, progress: bool) -> list[_Outcome]:
    from tqdm import tqdm

    outcomes: list[_Outcome] = []
    with tqdm(total=len(tasks), unit="img", desc="aligning", file=sys.stderr, disable=None if progress else True) as bar:
        if workers == 1 or len(tasks) < 2:
            for task in tasks:  # in-process: no start-up cost, and a debugger works
                outcomes.append(_process(task))
                bar.update()
        else:
            chunk = max(1, min(32, len(tasks) // (workers * 8)))
            with multiprocessing.Pool(min(workers, len(tasks)), initializer=_init_worker) as pool:
                for outcome in pool.imap_unordered(_process, tasks, chunksize=chunk):
                    outcomes.append(outcome)
                    bar.update()
    return sorted(outcomes, key=lambda o: o.index)


def _category(reason: str) -> str:
    """The reason without its detail in brackets: "unreadable image (…)" → "unreadable image"."""
    return reason.split(" (", 1)[0]


def _write_skipped(path: Path, skipped: list[tuple[str, str]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["source", "reason"])
    writer.writerows(skipped)
    write_text_atomic(path, buffer.getvalue(), overwrite=True)


def _options_record(options: PrepareOptions, found: Discovery) -> dict[str, Any]:
    """The resolved options, JSON-safe, for prepare.json."""
    record = asdict(options)
    record.pop("progress")
    record["dataset"]["test_subjects"] = (
        None if options.dataset.test_subjects is None else list(options.dataset.test_subjects)
    )
    record.update(kind=found.kind, dataset_root=str(found.root), precropped=found.precropped, pad_pixels=PAD_PIXELS)
    return record


def prepare_dataset(root: Path | str, out: Path | str, options: PrepareOptions | None = None) -> PrepareReport:
    """Prepare the dataset at ``root`` into the folder ``out``; returns what was done.

    Raises FaceeditError for a missing root, an unrecognised layout, an empty class or an
    output folder that exists non-empty (without ``overwrite``). Unreadable images and
    faces that cannot be found are skipped and listed in skipped.csv, never fatal.
    """
    options = options or PrepareOptions()
    started = time.perf_counter()
    root, out = Path(root).resolve(), Path(out)
    if not root.exists():
        raise FaceeditError(f"dataset folder {root} does not exist")
    check_output(root, out, options.overwrite)
    found = scan(root, options.kind, options.dataset)

    out.mkdir(parents=True, exist_ok=True)
    if options.overwrite:
        _clear_output(out)
    faces_dir = out / FACES_DIR
    faces_dir.mkdir()
    fullframe = found.precropped and options.undetected == "fullframe"
    tasks = [_Task(i, source, faces_dir, options.size, fullframe) for i, source in enumerate(found.images)]
    outcomes = _run_tasks(tasks, options.workers, options.progress)

    records = [o.record for o in outcomes if o.record is not None]
    skipped = list(found.skipped)
    skipped += [(str(found.images[o.index].path), o.skip_reason) for o in outcomes if o.skip_reason is not None]
    counts = count_faces(records)
    how = Counter(o.found for o in outcomes if o.found is not None)

    info = PreparedInfo(
        kind=found.kind, root=str(root), size=options.size, template=TEMPLATE_5.tolist(),
        counts=counts, options=_options_record(options, found),
    )  # fmt: skip
    _write_skipped(out / SKIPPED_NAME, skipped)
    write_prepared(out, info, records)
    return PrepareReport(
        out=out,
        kind=found.kind,
        counts=counts,
        skipped=dict(Counter(_category(reason) for _, reason in skipped)),
        found={key: how.get(key, 0) for key in (DETECTED, PADDED, FULLFRAME, NOT_FOUND)},
        undetected=options.undetected if found.precropped else "skip",
        seconds=time.perf_counter() - started,
    )


# ------------------------------------------------------------------------------ command line


def add_prepare_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``faceedit-train prepare`` (the trainer's cli builds the parser)."""
    parser.add_argument("root", type=Path, metavar="ROOT", help="the dataset folder")
    parser.add_argument("--out", "-o", type=Path, required=True, metavar="PREPARED", help="output folder (new or empty)")
    parser.add_argument("--kind", choices=KIND_CHOICES, default="auto", help="dataset layout (default: detect it)")
    parser.add_argument("--size", type=int, default=128, help="crop size in pixels (default 128)")
    parser.add_argument("--workers", type=int, default=default_workers(), help="processes (default: one per core)")
    parser.add_argument(
        "--undetected", choices=UNDETECTED_CHOICES, default="fullframe",
        help="pre-cropped faces the detector misses even after padding: landmarks on the whole frame, "
        "recorded as detected: false (default), or skip them",
    )  # fmt: skip
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier prepare in PREPARED")

    oulu = parser.add_argument_group("Oulu-CASIA")
    oulu.add_argument("--spectrum", choices=SPECTRA, default="VL", help="VL (visible, default) or NI (near infrared)")
    oulu.add_argument("--illumination", choices=ILLUMINATIONS, default="Strong", help="default Strong")
    oulu.add_argument("--tree", choices=TREES, default="original", help="OriginalImg (default) or the pre-cropped PreProcess_Img")
    oulu.add_argument("--mid-frames", action="store_true", help="also the frames between neutral and peak, intensity = position in the sequence")

    split = parser.add_argument_group("labels and split")
    split.add_argument("--no-neutral", dest="include_neutral", action="store_false", help="leave neutral faces out")
    split.add_argument("--folds", type=int, metavar="K", help="k-fold by subject (by image where subjects are unknown)")
    split.add_argument("--fold", type=int, metavar="I", help="the fold (0..K-1) held out as the test split")
    split.add_argument("--test-fraction", type=float, default=0.1, help="folders/pairs: share of subjects (or images) held out (default 0.1)")
    split.add_argument("--test-subjects", metavar="ID,ID,…", help="held-out subjects, e.g. 001,002 or P073,P074")
    split.add_argument("--seed", type=int, default=0, help="seed of the random split (default 0)")


def options_from_args(args: argparse.Namespace) -> PrepareOptions:
    """PrepareOptions from parsed ``prepare`` arguments."""
    subjects = None
    if args.test_subjects is not None:
        subjects = tuple(s.strip() for s in args.test_subjects.split(",") if s.strip())
    dataset = DatasetOptions(
        spectrum=args.spectrum, illumination=args.illumination, tree=args.tree,
        include_neutral=args.include_neutral, mid_frames=args.mid_frames, folds=args.folds, fold=args.fold,
        test_fraction=args.test_fraction, test_subjects=subjects, seed=args.seed,
    )  # fmt: skip
    return PrepareOptions(
        kind=args.kind, size=args.size, dataset=dataset, undetected=args.undetected,
        workers=args.workers, overwrite=args.overwrite,
    )  # fmt: skip


def run_prepare(args: argparse.Namespace) -> int:
    """Run ``prepare`` and print its report; FaceeditError propagates to the cli (one line, exit 1)."""
    report = prepare_dataset(args.root, args.out, options_from_args(args))
    print(report.format())
    return 0
