"""faceedit-train warp, and geometry --warped-network: appearance learned without shape."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from faceedit.core.alignment import TEMPLATE_5
from faceedit.core.expressions import EXPRESSIONS
from faceedit.core.imageio import load_photo, save_photo
from trainer.manifest import FACES_DIR, FaceRecord, PreparedInfo, read_prepared, write_prepared

SIZE = 64
MOVED = 54  # a mouth corner, moved by the "expression" below
SHIFT = 2.0


def _face() -> np.ndarray:
    """68 well-spread points: a jaw arc of 17 and a 51-point lattice inside (about 4 px apart)."""
    t = np.linspace(0, np.pi, 17)
    jaw = np.stack([SIZE / 2 - 0.3 * SIZE * np.cos(t), 0.45 * SIZE + 0.35 * SIZE * np.sin(t)], 1)
    ys, xs = np.mgrid[0:6, 0:9]
    lattice = np.stack([0.26 + 0.06 * xs.ravel(), 0.3 + 0.08 * ys.ravel()], 1)[:51] * SIZE
    return np.vstack([jaw, lattice])


BASE = np.round(_face())  # whole pixels: each dot is centred on its point


def _folder(folder: Path) -> Path:
    """12 faces of each class at BASE, but the happy ones' point 54 sits SHIFT px further right;
    every crop has one bright dot where its point 54 is."""
    (folder / FACES_DIR).mkdir(parents=True)
    records = []
    for i, label in enumerate(label for label in ("neutral", *EXPRESSIONS) for _ in range(12)):
        points = BASE.copy()
        if label == "happiness":
            points[MOVED, 0] += SHIFT
        crop = np.full((SIZE, SIZE, 3), 90, np.uint8)
        x, y = np.round(points[MOVED]).astype(int)
        crop[y - 1 : y + 2, x - 1 : x + 2] = 250
        name = f"{FACES_DIR}/{i:04d}.png"
        save_photo(folder / name, crop)
        records.append(FaceRecord(file=name, source=name, label=label, intensity=float(label != "neutral"),
                                  subject="", split="train", landmarks=points.tolist(), source_landmarks=points.tolist()))
    write_prepared(folder, PreparedInfo(kind="folders", root=str(folder), size=SIZE, template=TEMPLATE_5.tolist()), records)
    return folder


def _digest(folder: Path) -> str:
    return hashlib.sha256(b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())).hexdigest()


def test_warp_puts_every_face_on_the_mean_neutral_face_and_leaves_the_input_alone(tmp_path: Path) -> None:
    from trainer.warp import warp_prepared, warped_reference

    source = _folder(tmp_path / "prepared")
    before = _digest(source)
    assert warp_prepared(source, tmp_path / "warped") == 84
    assert _digest(source) == before
    info, records = read_prepared(tmp_path / "warped")
    reference = warped_reference(tmp_path / "warped")
    assert np.allclose(reference * SIZE, BASE)  # the mean neutral face: BASE itself here
    assert all(np.allclose(r.landmarks, BASE) for r in records)
    assert [r.label for r in records] == [r.label for r in read_prepared(source)[1]]
    happy = next(r for r in records if r.label == "happiness")
    target = np.round(BASE[MOVED])

    def dot(path: Path) -> np.ndarray:
        """Where the bright dot's centre is (x, y): the centroid of the light above the background."""
        weight = np.clip(load_photo(path).pixels[..., 0].astype(float) - 90.0, 0.0, None)
        ys, xs = np.mgrid[0:SIZE, 0:SIZE]
        return np.array([(weight * xs).sum(), (weight * ys).sum()]) / weight.sum()

    assert np.abs(dot(tmp_path / "warped" / records[0].file) - target).max() < 0.3  # a neutral face: where it was
    # The happy face's dot was SHIFT px right of the reference's point; the warp takes it most
    # of the way back (the spline is lightly smoothed, and the unmoved points ~4 px away hold it).
    assert dot(source / happy.file)[0] - target[0] == pytest.approx(SHIFT)
    moved = dot(tmp_path / "warped" / happy.file) - target
    assert moved[0] < 0.6 * SHIFT and abs(moved[1]) < 0.3


def test_warp_refuses_a_warped_folder_and_an_existing_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from trainer.cli import main

    source = _folder(tmp_path / "prepared")
    assert main(["warp", str(source), "--out", str(tmp_path / "w")]) == 0
    capsys.readouterr()
    assert main(["warp", str(source), "--out", str(tmp_path / "w")]) == 1
    assert "exists and is not empty" in capsys.readouterr().err
    assert main(["warp", str(source), "--out", str(tmp_path / "w"), "--overwrite"]) == 0
    capsys.readouterr()
    assert main(["warp", str(tmp_path / "w"), "--out", str(tmp_path / "w2")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "already warped" in err[0] and not (tmp_path / "w2").exists()


def test_geometry_warped_network_measures_in_the_warped_frame(
    tmp_path: Path, tiny_model_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from faceedit.core.models.file import load_model
    from trainer.cli import main
    from trainer.warp import warp_prepared

    source = _folder(tmp_path / "prepared")
    warp_prepared(source, tmp_path / "warped")
    options = json.loads((tmp_path / "warped" / "prepare.json").read_text())["options"]
    out = tmp_path / "geo.pt"
    assert main(["geometry", str(tiny_model_path), str(source), "--warped-network", str(tmp_path / "warped"), "-o", str(out)]) == 0
    model = load_model(out)
    assert model.info.config.appearance == "warped_network" and "trained in the mean face's frame" in model.info.provenance.notes
    assert np.allclose(model.network.landmark_reference.numpy(), np.asarray(options["reference"]), atol=1e-6)
    assert model.network.landmark_shifts[3, MOVED, 0].item() * SIZE == pytest.approx(SHIFT, abs=0.01)
    capsys.readouterr()
    # A folder that was not warped says so, in one line, and writes nothing.
    assert main(["geometry", str(tiny_model_path), str(source), "--warped-network", str(source), "-o", str(tmp_path / "x.pt")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "was not made by `faceedit-train warp`" in err[0] and not (tmp_path / "x.pt").exists()
