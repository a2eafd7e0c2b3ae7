"""trainer.coverage: which pixels of a prepared crop show its photo, and which are padding."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from trainer.coverage import crop_coverage, source_size
from trainer.manifest import FaceRecord

POINTS = np.random.default_rng(3).uniform(10, 54, (68, 2))


def _record(source: Path | str, crop_points: np.ndarray, source_points: np.ndarray) -> FaceRecord:
    return FaceRecord(file="faces/0.png", source=str(source), label="fear", intensity=1.0, subject="", split="train",
                      landmarks=crop_points.tolist(), source_landmarks=source_points.tolist())


def test_pixels_beyond_the_photo_are_padding(tmp_path: Path) -> None:
    photo = tmp_path / "photo.png"
    Image.fromarray(np.zeros((40, 50, 3), np.uint8)).save(photo)  # 50 wide, 40 high
    # The crop shows the photo at half scale, shifted: source x = crop x / 2 − 3.8, source y = crop y / 2 + 2.
    source_points = POINTS / 2 - np.array([3.8, -2.0])
    coverage = crop_coverage(_record(photo, POINTS, source_points), 64)
    assert coverage is not None and coverage.shape == (64, 64)
    # Source x lies inside [−0.5, 49.5] from crop x = 7 on (x = 6: −0.8); source y = y/2 + 2 always.
    assert (coverage[:, :7] == 0).all() and (coverage[:, 7:] == 1).all()


def test_rotated_crops_and_exif_turned_photos(tmp_path: Path) -> None:
    photo = tmp_path / "turned.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored 60×30, shown a quarter turn: 30 wide, 60 high
    Image.fromarray(np.zeros((30, 60, 3), np.uint8)).save(photo, exif=exif)
    assert source_size(str(photo)) == (30, 60)
    # A crop turned a quarter turn against the photo: crop (x, y) shows source (y, 63 − x).
    turned = np.stack([POINTS[:, 1], 63.0 - POINTS[:, 0]], axis=1)
    coverage = crop_coverage(_record(photo, POINTS, turned), 64)
    assert coverage is not None
    # Inside while source x = y ≤ 29.5 and source y = 63 − x ≤ 59.5, i.e. x ≥ 4.
    assert (coverage[:30, 4:] == 1).all()
    assert (coverage[30:, :] == 0).all() and (coverage[:, :4] == 0).all()


def test_unknown_without_the_photo_or_its_landmarks(tmp_path: Path) -> None:
    assert crop_coverage(_record(tmp_path / "gone.jpg", POINTS, POINTS), 64) is None
    record = FaceRecord(file="f.png", source=str(tmp_path / "gone.jpg"), label="fear", intensity=1.0, subject="",
                        split="train", landmarks=POINTS.tolist(), source_landmarks=[])
    assert crop_coverage(record, 64) is None


def test_the_recorded_size_serves_without_the_photo(tmp_path: Path) -> None:
    record = FaceRecord(file="f.png", source=str(tmp_path / "gone.jpg"), label="fear", intensity=1.0, subject="",
                        split="train", landmarks=POINTS.tolist(), source_landmarks=(POINTS / 2 - np.array([3.8, -2.0])).tolist(),
                        source_size=[50, 40])
    coverage = crop_coverage(record, 64)
    assert coverage is not None
    assert (coverage[:, :7] == 0).all() and (coverage[:, 7:] == 1).all()
    assert FaceRecord.from_json(record.to_json()) == record  # it survives the manifest
