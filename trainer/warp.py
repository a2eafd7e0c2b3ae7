"""``faceedit-train warp``: a prepared folder whose faces are warped into the mean neutral face's frame.

What it is for: training a network that learns an expression's *appearance* without its
shape (issue #12's "appearance learned by the ExprGAN in the warped frame"). Every crop
is warped by the thin-plate spline through its own 68 landmarks onto the mean neutral
training face (:func:`trainer.geometry.reference_face`), so a smile's teeth, a frown's
shading and a surprised face's bright eyes sit at the same pixels on every face, and what
is left between the classes is appearance. A model trained on the result (``faceedit-train
train WARPED``) is given its geometry with ``faceedit-train geometry … --warped-network
WARPED``, which reads this folder's reference face so that the frames agree; the editor
then warps each face into that frame before encoding it and carries the network's
per-face luminance ratios back (``appearance = "warped_network"``,
:meth:`faceedit.core.models.exprgan.Generator.ratio_maps`).

The output is an ordinary PREPARED folder: the same records, labels, splits and subjects,
every face's landmarks replaced by the reference face's (in crop pixels), and
``options.reference`` (68×2 crop fractions) and ``options.warped_from`` in prepare.json.
The input is never modified; prepare.json and manifest.jsonl are written last, so an
interrupted run never leaves a folder that reads as prepared; an existing output is
replaced only with ``overwrite``.
"""

from __future__ import annotations

import argparse
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np

from faceedit.core.errors import FaceeditError
from faceedit.core.imageio import load_photo, save_photo
from trainer.manifest import FACES_DIR, MANIFEST_NAME, SKIPPED_NAME, read_prepared, write_prepared

WARPED_FROM_OPTION = "warped_from"
REFERENCE_OPTION = "reference"


def warped_reference(folder: Path) -> np.ndarray:
    """The reference face (68×2 crop fractions) that ``folder``'s faces were warped onto; a
    :class:`FaceeditError` when ``folder`` was not made by ``faceedit-train warp``."""
    info, _ = read_prepared(folder)
    reference = info.options.get(REFERENCE_OPTION)
    if reference is None:
        raise FaceeditError(f"{folder} was not made by `faceedit-train warp` (its prepare.json names no reference face)")
    points = np.asarray(reference, np.float64)
    if points.shape != (68, 2):
        raise FaceeditError(f"{folder} has a damaged reference face ({points.shape[0]} points)")
    return points


def warp_prepared(source: Path, out: Path, *, overwrite: bool = False) -> int:
    """Write ``source``'s faces warped onto its mean neutral training face to ``out``; returns the faces written."""
    from faceedit.core.models.geometry import warp_to_reference
    from faceedit.training.datasets import INFO_NAME
    from trainer.geometry import reference_face
    from trainer.prepare import check_output

    info, records = read_prepared(source)
    if REFERENCE_OPTION in info.options:
        raise FaceeditError(f"{source} is already warped (made by `faceedit-train warp`)")
    check_output(source, out, overwrite)
    reference = reference_face([source])
    reference_px = reference * info.size
    for name in (INFO_NAME, MANIFEST_NAME, SKIPPED_NAME):
        (out / name).unlink(missing_ok=True)
    shutil.rmtree(out / FACES_DIR, ignore_errors=True)
    warped_records = []
    for record in records:
        warped = warp_to_reference(load_photo(source / record.file).pixels, np.asarray(record.landmarks), reference_px)
        target = out / record.file
        target.parent.mkdir(parents=True, exist_ok=True)
        save_photo(target, warped, overwrite=True)
        warped_records.append(replace(record, landmarks=reference_px.tolist()))
    if (source / SKIPPED_NAME).exists():
        shutil.copyfile(source / SKIPPED_NAME, out / SKIPPED_NAME)
    options = {**info.options, REFERENCE_OPTION: reference.tolist(), WARPED_FROM_OPTION: str(source.resolve())}
    write_prepared(out, replace(info, options=options), warped_records)  # last: until now OUT is not a prepared folder
    return len(warped_records)


def add_warp_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("prepared", metavar="PREPARED", type=Path, help="a folder made by `faceedit-train prepare` or `merge`")
    parser.add_argument("--out", metavar="WARPED", type=Path, required=True, help="the warped prepared folder to write")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier warp in WARPED")


def run_warp(args: argparse.Namespace) -> int:
    count = warp_prepared(args.prepared, args.out, overwrite=args.overwrite)
    print(f"warped {count} faces onto the mean neutral face of {args.prepared}: {args.out}")
    print(f"train on it with `faceedit-train train {args.out}`, then give the model its geometry with "
          f"`faceedit-train geometry MODEL … --warped-network {args.out}`")
    return 0
