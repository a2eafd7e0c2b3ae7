"""Which pixels of a prepared crop show the source photo, and which are padding.

``prepare`` aligns a face with its 68 landmarks; where the aligned crop reaches past the
edge of the source photo, its pixels are the photo's edge pixels smeared outwards
(the crop is sampled with replicated borders, and faces that fill their frame are found
on a copy padded the same way). expressions7's faces are tight crops: on average a third
of each aligned crop, the chin, the top of the forehead and the outer cheeks, is such
smear. Fits that learn from the crops' pixels (the appearance ratios of
``faceedit-train geometry``) must leave those pixels out, or they learn the smear of the
class's photos as part of its expression.

The crop's transform is recovered from the record's two landmark sets (crop pixels and
source pixels are related by the alignment's similarity transform); the source photo's
size is the record's ``source_size`` (recorded by ``prepare``), or, in folders prepared
before it was, the photo's as loaded. Plain numpy; any thread.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

from faceedit.core.alignment import similarity_transform
from faceedit.core.errors import PhotoError
from faceedit.core.imageio import load_photo
from trainer.manifest import FaceRecord


@lru_cache(maxsize=65536)
def source_size(path: str) -> tuple[int, int] | None:
    """(width, height) of the photo at ``path`` as ``load_photo`` shows it (EXIF orientation applied); None if unreadable.

    Only folders prepared before ``prepare`` recorded ``source_size`` need it; decoding
    the photo keeps the orientation rules in one place (:mod:`faceedit.core.imageio`).
    """
    try:
        height, width = load_photo(Path(path)).pixels.shape[:2]
    except PhotoError:
        return None
    return width, height


def crop_coverage(record: FaceRecord, size: int) -> np.ndarray | None:
    """size×size float32: 1 where the crop's pixel lies inside the source photo, 0 where it is padding.

    ``size`` is the prepared crop size (the size ``record.landmarks`` are in). None where it
    cannot be known (no source landmarks, or no recorded size and the photo is gone): callers then treat
    the whole crop as photo, as before coverage was measured.
    """
    if not record.source_landmarks or not record.landmarks:
        return None
    dimensions = tuple(record.source_size) if record.source_size else source_size(record.source)
    if dimensions is None:
        return None
    width, height = dimensions
    to_source = similarity_transform(np.asarray(record.landmarks, np.float64), np.asarray(record.source_landmarks, np.float64))
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64)
    sx = to_source[0, 0] * xs + to_source[0, 1] * ys + to_source[0, 2]
    sy = to_source[1, 0] * xs + to_source[1, 1] * ys + to_source[1, 2]
    # A pixel sampled within half a pixel of the edge still interpolates photo pixels only.
    inside = (sx >= -0.5) & (sx <= width - 0.5) & (sy >= -0.5) & (sy <= height - 0.5)
    return inside.astype(np.float32)


__all__ = ["crop_coverage", "source_size"]
