"""Draw the pictures of a model's edits that the README and the model card show.

    python tools/docs_pictures.py MODEL --london ../shared/data/london --split PREPARED -o docs/

writes, for held-out London identities (the test split of a prepared London folder, so
the faces were never trained on):

- ``bundled-contact-sheet.jpg``: faces of several skin tones (rows): the input, each
  expression at 1.0, and the same person's real smile;
- ``bundled-intensity.jpg``: every expression (rows) at 0.25, 0.5, 0.75 and 1.0, for the
  first three faces (light, dark and medium skin with the default identities) side by side;
- ``bundled-mouths.jpg``: mouths at the photo's full resolution: input, happiness 1.0,
  surprise 1.0, real smile.

The London photos are CC BY 4.0 (DeBruine & Jones 2017); every picture drawn from them
must carry that attribution where it is shown.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from faceedit.core.editor import ExpressionEditor
from faceedit.core.expressions import EXPRESSIONS, ExpressionTargets
from faceedit.core.faces import face_detector
from faceedit.core.imageio import load_photo
from faceedit.core.models.file import load_model
from faceedit.core.pipeline import encode_faces, render_encoded
from trainer.manifest import read_prepared

DEFAULT_IDS = ("010", "042", "067", "096", "017", "083")
"""Held-out identities of light to dark skin in the project's London split (seed 6)."""
RAMP_FACES = 3
"""How many of the faces the intensity sheet shows (each a block of six expressions × four levels)."""
RAMP_LEVELS = (0.25, 0.5, 0.75, 1.0)


def _held_out(prepared: Path) -> set[str]:
    _, records = read_prepared(prepared)
    return {r.subject for r in records if r.split == "test"}


def _label(tile: np.ndarray, text: str) -> np.ndarray:
    image = Image.fromarray(tile)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 7 * len(text) + 6, 14), fill=(255, 255, 255))
    draw.text((3, 1), text, fill=(0, 0, 0))
    return np.asarray(image)


def _crop(image: np.ndarray, centre: np.ndarray, half_width: int, half_height: int) -> np.ndarray:
    x0, y0 = int(centre[0]) - half_width, int(centre[1]) - half_height
    padded = np.pad(image, ((half_height, half_height), (half_width, half_width), (0, 0)), mode="edge")
    return padded[y0 + half_height : y0 + 3 * half_height, x0 + half_width : x0 + 3 * half_width]


def draw(model_path: Path, london: Path, ids: list[str], out: Path) -> None:
    editor = ExpressionEditor(load_model(model_path, "cpu", "fp32"))
    detector = face_detector()
    sheet_rows, ramp_blocks, mouth_rows = [], [], []
    for subject in ids:
        neutral = load_photo(london / "neutral" / f"{subject}.jpg").pixels
        smile = load_photo(london / "smiling" / f"{subject}.jpg").pixels
        encoded = encode_faces(neutral, detector, editor, subject)
        landmarks = encoded[0][1].face.landmarks

        def at(values: dict[str, float]) -> np.ndarray:
            return render_encoded(neutral, editor, encoded, ExpressionTargets.from_mapping(values)).pixels

        width = int(landmarks[16, 0] - landmarks[0, 0])
        face_centre = landmarks.mean(axis=0)
        face = lambda image: np.asarray(Image.fromarray(_crop(image, face_centre, int(0.75 * width), int(0.85 * width))).resize((170, 193)))  # noqa: E731
        # The real smile is framed by its own landmarks (the person moved between the photos).
        smile_landmarks = detector.detect(smile)[0].landmarks
        smile_shift = smile_landmarks.mean(axis=0) - face_centre
        smile_face = _crop(smile, face_centre + smile_shift, int(0.75 * width), int(0.85 * width))
        smile_face = np.asarray(Image.fromarray(smile_face).resize((170, 193)))
        sheet_rows.append([face(neutral)] + [face(at({e: 1.0})) for e in EXPRESSIONS] + [smile_face])
        if len(ramp_blocks) < RAMP_FACES:
            small = lambda image: np.asarray(Image.fromarray(face(image)).resize((120, 136), Image.LANCZOS))  # noqa: E731
            block = [[small(neutral)] + [small(at({e: level})) for level in RAMP_LEVELS] for e in EXPRESSIONS]
            ramp_blocks.append([[_label(row[0], e)] + row[1:] for e, row in zip(EXPRESSIONS, block)])
        mouth_centre = landmarks[48:68].mean(axis=0)
        mouth_width = int(landmarks[54, 0] - landmarks[48, 0])
        mouth = lambda image: _crop(image, mouth_centre, mouth_width, int(0.55 * mouth_width))  # noqa: E731
        smile_mouth = _crop(smile, smile_landmarks[48:68].mean(axis=0), mouth_width, int(0.55 * mouth_width))
        tiles = [mouth(neutral), mouth(at({"happiness": 1.0})), mouth(at({"surprise": 1.0})), smile_mouth]
        mouth_rows.append([np.asarray(Image.fromarray(t).resize((360, 200), Image.LANCZOS)) for t in tiles])
    headers_sheet = ["input", *(f"{e} 1.0" for e in EXPRESSIONS), "real smile"]
    headers_mouth = ["input", "happiness 1.0", "surprise 1.0", "real smile"]
    for name, rows, headers in (("bundled-contact-sheet.jpg", sheet_rows, headers_sheet),
                                ("bundled-mouths.jpg", mouth_rows, headers_mouth)):
        rows[0] = [_label(tile, text) for tile, text in zip(rows[0], headers)]
        Image.fromarray(np.vstack([np.hstack(row) for row in rows])).save(out / name, quality=88)
        print(f"wrote {out / name}")
    # Intensity: the faces' blocks side by side, a white gap between them; levels on the top row.
    for block in ramp_blocks:
        block[0][1:] = [_label(tile, str(level)) for tile, level in zip(block[0][1:], RAMP_LEVELS)]
    gap = np.full((136 * len(EXPRESSIONS), 8, 3), 255, np.uint8)
    pictures = [np.vstack([np.hstack(row) for row in block]) for block in ramp_blocks]
    ramp = np.hstack([part for picture in pictures for part in (picture, gap)][:-1])
    Image.fromarray(ramp).save(out / "bundled-intensity.jpg", quality=88)
    print(f"wrote {out / 'bundled-intensity.jpg'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--london", type=Path, required=True, help="the London set (neutral/, smiling/)")
    parser.add_argument("--split", type=Path, help="a prepared London folder: its test identities are checked")
    parser.add_argument("--ids", default=",".join(DEFAULT_IDS), help="held-out identities, comma-separated")
    parser.add_argument("-o", "--out", type=Path, default=Path("docs"))
    args = parser.parse_args(argv)
    ids = [i for i in args.ids.split(",") if i]
    if args.split is not None:
        trained = [i for i in ids if i not in _held_out(args.split)]
        if trained:
            print(f"docs_pictures: error: {', '.join(trained)} are not held out in {args.split}", file=sys.stderr)
            return 1
    draw(args.model, args.london, ids, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
