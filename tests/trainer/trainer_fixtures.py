"""A small prepared dataset built directly (without `prepare`), for training tests."""

from __future__ import annotations

from pathlib import Path

from conftest import SHARED_DATA
from faceedit.core.alignment import TEMPLATE_5, align_face
from faceedit.core.faces import face_detector
from faceedit.core.imageio import load_photo, save_photo
from trainer.manifest import FACES_DIR, FaceRecord, PreparedInfo, write_prepared


def build_prepared(folder: Path, size: int = 64, ids: int = 6) -> Path:
    """The first ``ids`` London ids: neutral → "neutral", smiling → "happiness"; the last two are the test split.

    Some faces are also labelled with the other expressions (mechanics only, not accuracy).
    """
    folder.mkdir(parents=True, exist_ok=True)
    (folder / FACES_DIR).mkdir(exist_ok=True)
    records = []
    others = ["anger", "disgust", "fear", "sadness", "surprise"]
    numbers = sorted(int(p.stem) for p in (SHARED_DATA / "london" / "neutral").glob("*.jpg"))[:ids]
    for position, n in enumerate(numbers):
        for kind, label in (("neutral", "neutral"), ("smiling", "happiness")):
            source = SHARED_DATA / "london" / kind / f"{n:03d}.jpg"
            pixels = load_photo(source).pixels
            face = face_detector().detect(pixels)[0]
            aligned = align_face(pixels, face.landmarks, size)
            name = f"{FACES_DIR}/{n:03d}-{kind}.png"
            save_photo(folder / name, aligned.crop, overwrite=True)
            if kind == "neutral" and n % 2 == 0:
                label = others[n % len(others)]
            records.append(FaceRecord(
                file=name, source=str(source), label=label, intensity=0.0 if label == "neutral" else 1.0,
                subject=f"{n:03d}", split="test" if position >= ids - 2 else "train",
                landmarks=aligned.landmarks.tolist(), source_landmarks=face.landmarks.tolist(),
            ))
    write_prepared(folder, PreparedInfo(kind="pairs", root=str(SHARED_DATA / "london"), size=size, template=TEMPLATE_5.tolist()), records)
    return folder
