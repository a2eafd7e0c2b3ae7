"""A contact sheet of search results: the query face, then the hits best first, each with rank and score.

Runs on the calling thread; reads each hit's photo once (faces of one photo share it).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from faceedit.core.errors import PhotoError
from faceedit.core.search import SearchHit

CELL = 128
LABEL = 18
GAP = 4
COLUMNS = 6
MARGIN = 0.25  # of the face box, around it


def face_thumbnail(pixels: np.ndarray, box: Sequence[int], size: int = CELL) -> np.ndarray:
    """A square crop around ``box`` (x0, y0, x1, y1) with a margin, edge-padded, resized to size×size RGB."""
    x0, y0, x1, y1 = (int(v) for v in box)
    side = int(round(max(x1 - x0, y1 - y0) * (1 + 2 * MARGIN)))
    cx, cy = (x0 + x1) // 2, (y0 + y1) // 2
    left, top = cx - side // 2, cy - side // 2
    height, width = pixels.shape[:2]
    pad = max(0, -left, -top, left + side - width, top + side - height)
    image = pixels if pixels.ndim == 3 else np.dstack([pixels] * 3)
    if pad:
        image = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    crop = image[top + pad : top + pad + side, left + pad : left + pad + side]
    return cv2.resize(np.ascontiguousarray(crop), (size, size), interpolation=cv2.INTER_AREA if side > size else cv2.INTER_LINEAR)


def hit_thumbnails(hits: Sequence[SearchHit], size: int = CELL) -> list[np.ndarray | None]:
    """A face thumbnail per hit, None where its photo cannot be read; each photo is read once."""
    from faceedit.core.imageio import load_photo

    photos: dict[Path, np.ndarray | None] = {}
    thumbnails: list[np.ndarray | None] = []
    for hit in hits:
        if hit.path not in photos:
            try:
                photos[hit.path] = load_photo(hit.path).pixels
            except PhotoError:
                photos[hit.path] = None
        pixels = photos[hit.path]
        thumbnails.append(None if pixels is None else face_thumbnail(pixels, hit.box, size))
    return thumbnails


def _label(cell: np.ndarray, text: str) -> np.ndarray:
    out = np.full((cell.shape[0] + LABEL, cell.shape[1], 3), 255, np.uint8)
    out[: cell.shape[0]] = cell
    cv2.putText(out, text, (4, cell.shape[0] + LABEL - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return out


def search_sheet(query_pixels: np.ndarray, query_box: Sequence[int], hits: Sequence[SearchHit], columns: int = COLUMNS) -> np.ndarray:
    """The sheet (RGB uint8): row-major cells, the query first ("query"), then "#rank score" per hit.

    A hit whose photo can no longer be read shows a grey cell ("unreadable").
    """
    cells = [_label(face_thumbnail(query_pixels, query_box), "query")]
    for hit, thumbnail in zip(hits, hit_thumbnails(hits)):
        if thumbnail is None:
            cells.append(_label(np.full((CELL, CELL, 3), 160, np.uint8), f"#{hit.rank} unreadable"))
        else:
            cells.append(_label(thumbnail, f"#{hit.rank}  {hit.score:.3f}"))
    columns = max(1, min(columns, len(cells)))
    rows = -(-len(cells) // columns)
    h, w = CELL + LABEL, CELL
    sheet = np.full((rows * (h + GAP) + GAP, columns * (w + GAP) + GAP, 3), 255, np.uint8)
    for i, cell in enumerate(cells):
        r, c = divmod(i, columns)
        sheet[GAP + r * (h + GAP) : GAP + r * (h + GAP) + h, GAP + c * (w + GAP) : GAP + c * (w + GAP) + w] = cell
    return sheet
