"""faceedit-train geometry: shifts from pairs, class contrasts within a source, and the model file it writes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faceedit.core.alignment import TEMPLATE_5
from faceedit.core.expressions import EXPRESSIONS
from faceedit.core.imageio import save_photo
from trainer.manifest import FACES_DIR, FaceRecord, PreparedInfo, write_prepared

SIZE = 64
BASE = np.random.default_rng(1).uniform(16, 48, (68, 2))


def _prepared(folder: Path, kind: str, faces: list[tuple[str, str, np.ndarray, bool]]) -> Path:
    """faces: (subject, label, landmarks, greyscale) → a prepared folder of flat crops."""
    (folder / FACES_DIR).mkdir(parents=True)
    records = []
    for i, (subject, label, points, grey) in enumerate(faces):
        name = f"{FACES_DIR}/{i:04d}.png"
        save_photo(folder / name, np.full((SIZE, SIZE, 3), 128 if grey else (150, 110, 90), np.uint8))
        records.append(FaceRecord(file=name, source=name, label=label, intensity=0.0 if label == "neutral" else 1.0,
                                  subject=subject, split="train", landmarks=points.tolist(), source_landmarks=points.tolist()))
    write_prepared(folder, PreparedInfo(kind=kind, root=str(folder), size=SIZE, template=TEMPLATE_5.tolist()), records)
    return folder


def test_pairs_and_source_separated_contrasts(tmp_path: Path) -> None:
    from trainer.geometry import fit_geometry, reference_face

    smile = np.zeros((68, 2))
    smile[48], smile[54] = (-2.0, -3.0), (2.0, -3.0)
    frown = np.zeros((68, 2))
    frown[21], frown[22] = (1.0, 2.0), (-1.0, 2.0)
    pairs = [(f"{n:03d}", label, BASE + (smile if label == "happiness" else 0), False)
             for n in range(12) for label in ("neutral", "happiness")]
    classes = [("", label, BASE + (frown if label == "anger" else 0), True) for label in ("neutral", *EXPRESSIONS) for _ in range(12)]
    # Colour faces of another framing (mouths 3 px lower), nearly all neutral: a confound.
    lower = np.zeros((68, 2))
    lower[48:68, 1] = 3.0
    classes += [("", "neutral", BASE + lower, False) for _ in range(30)]
    folders = [_prepared(tmp_path / "pairs", "pairs", pairs), _prepared(tmp_path / "folders", "folders", classes)]
    reference = reference_face(folders)
    learned = {s.expression: s for s in fit_geometry(folders, reference)}
    assert learned["happiness"].source == "pairs" and learned["happiness"].faces == 12
    assert np.allclose(learned["happiness"].shifts * SIZE, smile, atol=0.05)
    assert learned["anger"].source == "contrast"
    assert np.allclose(learned["anger"].shifts * SIZE, frown, atol=0.05)  # the colour neutrals' lower mouths are not in it
    assert np.abs(learned["sadness"].shifts).max() < 1e-9


def test_geometry_command_writes_a_model_that_moves_the_face(tmp_path: Path, tiny_model_path: Path) -> None:
    from faceedit.core.models.file import load_model
    from trainer.cli import main

    corners = np.zeros((68, 2))
    corners[[48, 54], 1] = -3.0  # mouth corners up (a move of every point would be no expression)
    pairs = [(f"{n:03d}", label, BASE + (corners if label != "neutral" else 0.0), False)
             for n in range(12) for label in ("neutral", *EXPRESSIONS)]
    prepared = _prepared(tmp_path / "p", "pairs", pairs)
    out = tmp_path / "geo.pt"
    assert main(["geometry", str(tiny_model_path), str(prepared), "-o", str(out), "--contrast-ranking", "typical",
                 "--apex-for", "anger=0.4"]) == 0
    model = load_model(out)
    assert model.info.config.geometry and "Geometry learned" in model.info.provenance.notes
    # The notes say how the faces were chosen.
    assert "(apex 1, contrast ranking typical, anger 0.4)" in model.info.provenance.notes
    assert np.allclose(model.network.landmark_shifts.numpy() * SIZE, corners[None], atol=1e-4)


def test_geometry_without_data_is_one_line(tmp_path: Path, tiny_model_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from trainer.cli import main

    prepared = _prepared(tmp_path / "p", "folders", [("", "neutral", BASE, True) for _ in range(12)])
    assert main(["geometry", str(tiny_model_path), str(prepared), "-o", str(tmp_path / "x.pt")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("faceedit-train: error: no data for the geometry of anger")
    assert not (tmp_path / "x.pt").exists()


def test_appearance_ratio_is_local_and_from_the_pairs(tmp_path: Path) -> None:
    from faceedit.core.imageio import load_photo
    from trainer.geometry import fit_appearance, fit_geometry, reference_face

    pairs = [(f"{n:03d}", label, BASE, False) for n in range(12) for label in ("neutral", *EXPRESSIONS)]
    folder = _prepared(tmp_path / "p", "pairs", pairs)
    from trainer.manifest import read_prepared

    for record in read_prepared(folder)[1]:  # smiles: a brighter square in the middle; all: +10 % overall
        if record.label == "happiness":
            pixels = load_photo(folder / record.file).pixels.astype(float) * 1.1
            pixels[28:36, 28:36] *= 1.4
            save_photo(folder / record.file, np.clip(pixels, 0, 255).astype(np.uint8), overwrite=True)
    reference = reference_face([folder])
    maps = fit_appearance([folder], reference, fit_geometry([folder], reference), SIZE)
    happy = maps[EXPRESSIONS.index("happiness")]
    assert happy[31, 31] > 0.25  # log 1.4 ≈ 0.34, lightly smoothed
    assert abs(float(np.median(happy[20:44, 20:44]))) < 0.05  # the overall +10 % is not kept
    assert np.abs(maps[EXPRESSIONS.index("anger")]).max() < 1e-6


def test_appearance_ignores_what_covers_the_face_in_a_few_photos(tmp_path: Path) -> None:
    from trainer.geometry import fit_appearance, fit_geometry, reference_face
    from trainer.manifest import read_prepared

    # Every fear face darkens between the brows; 4 of 12 also have a dark hand over the chin.
    classes = [("", label, BASE, True) for label in ("neutral", *EXPRESSIONS) for _ in range(12)]
    pairs = [(f"{n:03d}", label, BASE, False) for n in range(12) for label in ("neutral", "happiness")]
    folders = [_prepared(tmp_path / "pairs", "pairs", pairs), _prepared(tmp_path / "folders", "folders", classes)]
    fear = [r for r in read_prepared(folders[1])[1] if r.label == "fear"]
    for n, record in enumerate(fear):
        pixels = np.full((SIZE, SIZE, 3), 128, np.uint8)
        pixels[24:30, 28:36] = 90
        if n < 4:
            pixels[46:56, 24:40] = 30
        save_photo(folders[1] / record.file, pixels, overwrite=True)
    reference = reference_face(folders)
    maps = fit_appearance(folders, reference, fit_geometry(folders, reference), SIZE)
    fear_map = maps[EXPRESSIONS.index("fear")]
    assert fear_map[26:28, 30:34].mean() < -0.2  # log(98/136) ≈ -0.33, lightly smoothed
    assert abs(float(fear_map[48:54, 26:38].mean())) < 0.02  # the hands are not part of fear


def test_recognition_refit_changes_only_the_head_and_reads_neutral_faces_as_neutral(tmp_path: Path, tiny_model_path: Path) -> None:
    import torch

    from faceedit.core.models.file import load_model
    from trainer.recognition import refit_recognition

    faces = [(f"{n:03d}", label, BASE, False) for n in range(16) for label in ("neutral", "happiness")]
    folder = _prepared(tmp_path / "p", "pairs", faces)
    from trainer.manifest import read_prepared, write_prepared

    info, records = read_prepared(folder)
    for record in records:  # smiles bright, neutral faces dark; the last 4 subjects held out
        level = 220 if record.label == "happiness" else 40
        save_photo(folder / record.file, np.full((SIZE, SIZE, 3), level, np.uint8), overwrite=True)
    records = [r if int(r.subject) < 12 else type(r)(**{**r.__dict__, "split": "test"}) for r in records]
    write_prepared(folder, info, records)
    before, after = refit_recognition(tiny_model_path, [folder], tmp_path / "r.pt", overwrite=False, epochs=300)
    assert after.neutral_read_neutral == 1.0 and after.expression_read_right == 1.0 and after.faces == 8
    old, new = load_model(tiny_model_path).network, load_model(tmp_path / "r.pt").network
    for name, tensor in old.state_dict().items():
        changed = not torch.equal(tensor, new.state_dict()[name])
        assert changed == name.startswith("encoder.recognise."), name
    assert "Recognition head refitted" in load_model(tmp_path / "r.pt").info.provenance.notes


def test_apex_takes_the_strongest_faces_of_each_expression(tmp_path: Path) -> None:
    from trainer.geometry import fit_geometry, reference_face

    pairs = []
    for n in range(12):
        lift = np.zeros((68, 2))
        lift[[48, 54], 1] = -1.0 if n < 6 else -3.0  # half smile faintly, half strongly
        pairs += [(f"{n:03d}", "neutral", BASE, False), (f"{n:03d}", "happiness", BASE + lift, False)]
    classes = [("", label, BASE, True) for label in ("neutral", *EXPRESSIONS) for _ in range(12)]
    folders = [_prepared(tmp_path / "pairs", "pairs", pairs), _prepared(tmp_path / "folders", "folders", classes)]
    reference = reference_face(folders)
    mean = {s.expression: s for s in fit_geometry(folders, reference)}["happiness"]
    apex = {s.expression: s for s in fit_geometry(folders, reference, apex=0.5)}["happiness"]
    assert mean.faces == 12 and apex.faces == 6
    assert mean.shifts[48, 1] * SIZE == pytest.approx(-2.0, abs=0.05)
    assert apex.shifts[48, 1] * SIZE == pytest.approx(-3.0, abs=0.05)
    with pytest.raises(Exception, match="apex"):
        fit_geometry(folders, reference, apex=0.0)
    # --apex-for sets one expression's apex and leaves the others at --apex.
    chosen = {s.expression: s for s in fit_geometry(folders, reference, apex=1.0, apex_for={"happiness": 0.5})}
    assert chosen["happiness"].faces == 6 and chosen["surprise"].faces == mean_of(folders, reference)["surprise"].faces
    with pytest.raises(Exception, match="unknown expression joy"):
        fit_geometry(folders, reference, apex_for={"joy": 0.5})
    with pytest.raises(Exception, match="--apex-for anger must be in"):
        fit_geometry(folders, reference, apex_for={"anger": 1.5})


def test_typical_ranking_takes_what_sets_an_expression_apart_not_the_biggest_change(tmp_path: Path) -> None:
    from trainer.geometry import fit_geometry, reference_face

    # Half the anger faces frown (brows down: only anger does that); the other half drop
    # the jaw far more, as every surprise face does. Furthest from neutral are the jaw
    # drops; most typical of anger are the frowns.
    frown, jaw = np.zeros((68, 2)), np.zeros((68, 2))
    frown[17:27, 1] = 1.0
    jaw[5:12, 1], jaw[56:59, 1] = 3.0, 3.0
    classes = [("", "neutral", BASE, True) for _ in range(12)]
    classes += [("", "anger", BASE + (frown if n < 6 else jaw), True) for n in range(12)]
    classes += [("", "surprise", BASE + jaw, True) for _ in range(12)]
    classes += [("", label, BASE, True) for label in ("disgust", "fear", "happiness", "sadness") for _ in range(12)]
    pairs = [(f"{n:03d}", label, BASE, False) for n in range(12) for label in ("neutral", "happiness")]
    folders = [_prepared(tmp_path / "pairs", "pairs", pairs), _prepared(tmp_path / "folders", "folders", classes)]
    reference = reference_face(folders)
    by_displacement = {s.expression: s for s in fit_geometry(folders, reference, contrast_apex=0.5)}["anger"]
    typical = {s.expression: s for s in fit_geometry(folders, reference, contrast_apex=0.5, ranking="typical")}["anger"]
    assert typical.faces == by_displacement.faces == 6
    assert by_displacement.shifts[8, 1] * SIZE == pytest.approx(3.0, abs=0.05)
    assert by_displacement.shifts[19, 1] * SIZE == pytest.approx(0.0, abs=0.05)
    assert typical.shifts[19, 1] * SIZE == pytest.approx(1.0, abs=0.05)
    assert typical.shifts[8, 1] * SIZE == pytest.approx(0.0, abs=0.05)
    # At apex 1 every face counts, whatever the ranking.
    everything = {s.expression: s for s in fit_geometry(folders, reference, ranking="typical")}["anger"]
    assert everything.shifts[8, 1] * SIZE == pytest.approx(1.5, abs=0.05)
    with pytest.raises(Exception, match="ranking must be one of"):
        fit_geometry(folders, reference, ranking="loudest")


def mean_of(folders: list[Path], reference: np.ndarray) -> dict:
    from trainer.geometry import fit_geometry

    return {s.expression: s for s in fit_geometry(folders, reference)}


def _open_mouth_points() -> np.ndarray:
    """Landmarks (crop pixels) with open eyes and lips parted by 8 pixels."""
    points = BASE.copy()
    points[36:42] = [[14, 24], [16, 22.5], [19, 22.5], [21, 24], [19, 25.5], [16, 25.5]]
    points[42:48] = points[36:42] + (24, 0)
    points[[60, 61, 62, 63, 64]] = [[20, 44], [25, 42], [32, 42], [39, 42], [44, 44]]
    points[[67, 66, 65]] = [[25, 50], [32, 50], [39, 50]]
    return points


def test_mouth_interior_is_learned_from_colour_photos_with_parted_lips(tmp_path: Path) -> None:
    import cv2

    from faceedit.core.models import mouth
    from trainer.geometry import fit_mouth

    # One colour "photo" at 4× the crop's scale: grey skin, eye whites at 200, a mouth
    # opening with teeth (240) under the upper lip and a dark cavity (40) below.
    scale = 4
    points = _open_mouth_points()
    photo = np.full((SIZE * scale, SIZE * scale, 3), (150, 120, 100), np.uint8)
    for eye in (mouth.LEFT_EYE, mouth.RIGHT_EYE):
        cv2.fillPoly(photo, [np.round(points[list(eye)] * scale).astype(np.int32)], (200, 200, 200))
    inner = np.round(points[list(mouth.INNER_MOUTH)] * scale).astype(np.int32)
    cv2.fillPoly(photo, [inner], (40, 40, 40))
    teeth = np.zeros(photo.shape[:2], np.uint8)
    cv2.fillPoly(teeth, [inner], 1)
    teeth[int(46 * scale):] = 0
    photo[teeth > 0] = (240, 240, 240)
    source = tmp_path / "open.png"
    save_photo(source, photo)
    folder = tmp_path / "p"
    (folder / FACES_DIR).mkdir(parents=True)
    records = [FaceRecord(file=f"{FACES_DIR}/{n}.png", source=str(source), label="happiness", intensity=1.0, subject=f"{n:03d}",
                          split="train", landmarks=points.tolist(), source_landmarks=(points * scale).tolist()) for n in range(6)]
    write_prepared(folder, PreparedInfo(kind="pairs", root=str(folder), size=SIZE, template=TEMPLATE_5.tolist()), records)
    learned = fit_mouth([folder], SIZE, TEMPLATE_5)
    happy = EXPRESSIONS.index("happiness")
    assert learned.template.shape[0] == len(EXPRESSIONS)
    assert learned.photos["happiness"] == 6 and learned.sources["happiness"] == "colour"  # too few for its own: all colour photos
    luma = learned.template[happy].transpose(1, 2, 0) @ np.array([0.299, 0.587, 0.114])
    centre = mouth.TEMPLATE_COLUMNS // 2
    top = luma[2, centre]  # just under the upper lip: teeth
    bottom = luma[int((6.5 / 24) / mouth.DEPTH * (mouth.TEMPLATE_ROWS - 1)), centre]  # near the lower lip: cavity
    deep = luma[-1, centre]  # no photo reaches here: the cavity's colour
    assert top > 3 * bottom and bottom == pytest.approx(deep, rel=0.35)
    assert learned.cavity @ np.array([0.299, 0.587, 0.114]) < 0.35
    # Greyscale sources teach nothing: only this photo, made grey, is refused.
    save_photo(source, np.repeat(photo.mean(axis=2, keepdims=True).astype(np.uint8), 3, axis=2), overwrite=True)
    with pytest.raises(Exception, match="no colour training photo"):
        fit_mouth([folder], SIZE, TEMPLATE_5)


def test_each_expression_learns_its_own_mouth_interior(tmp_path: Path) -> None:
    """Smiles show teeth; surprised mouths are dark: colour photos teach their expression's interior;
    greyscale ones say where teeth and cavity show, at the colour photos' levels; an expression
    with few photos takes the shared one."""
    import cv2

    from faceedit.core.models import mouth
    from trainer.geometry import MIN_MOUTH_PHOTOS, fit_mouth

    scale = 4
    points = _open_mouth_points()
    inner = np.round(points[list(mouth.INNER_MOUTH)] * scale).astype(np.int32)

    def photo(teeth: bool, colour: bool) -> np.ndarray:
        image = np.full((SIZE * scale, SIZE * scale, 3), (150, 120, 100) if colour else (125, 125, 125), np.uint8)
        for eye in (mouth.LEFT_EYE, mouth.RIGHT_EYE):
            cv2.fillPoly(image, [np.round(points[list(eye)] * scale).astype(np.int32)], (200, 200, 200))
        # Greyscale photos are blurred: their cavity and teeth lie nearer the lips' level.
        cv2.fillPoly(image, [inner], (60, 30, 30) if colour else (100, 100, 100))
        if teeth:
            band = np.zeros(image.shape[:2], np.uint8)
            cv2.fillPoly(band, [inner], 1)
            band[int(46 * scale):] = 0
            image[band > 0] = (240, 240, 240) if colour else (190, 190, 190)
        return image

    sources = {"smile": photo(teeth=True, colour=True), "oh": photo(teeth=False, colour=False),
               "grin": photo(teeth=True, colour=False)}
    for name, image in sources.items():
        save_photo(tmp_path / f"{name}.png", image)
    faces = ([("smile", "happiness")] * MIN_MOUTH_PHOTOS + [("oh", "surprise")] * MIN_MOUTH_PHOTOS + [("oh", "fear")] * 3
             + [("grin", "disgust")] * MIN_MOUTH_PHOTOS)
    folder = tmp_path / "p"
    (folder / FACES_DIR).mkdir(parents=True)
    records = [FaceRecord(file=f"{FACES_DIR}/{n}.png", source=str(tmp_path / f"{name}.png"), label=label, intensity=1.0,
                          subject=f"{n:03d}", split="train", landmarks=points.tolist(), source_landmarks=(points * scale).tolist())
               for n, (name, label) in enumerate(faces)]
    write_prepared(folder, PreparedInfo(kind="folders", root=str(folder), size=SIZE, template=TEMPLATE_5.tolist()), records)
    learned = fit_mouth([folder], SIZE, TEMPLATE_5)
    assert learned.sources["happiness"] == "colour" and learned.photos["happiness"] == MIN_MOUTH_PHOTOS
    assert learned.sources["surprise"] == "luminance" and learned.photos["surprise"] == MIN_MOUTH_PHOTOS
    assert learned.photos["fear"] == MIN_MOUTH_PHOTOS  # 3 of its own are too few: the colour photos' interior
    template = {e: learned.template[EXPRESSIONS.index(e)] for e in ("happiness", "surprise", "fear", "disgust")}
    luma = {e: t.transpose(1, 2, 0) @ np.array([0.299, 0.587, 0.114]) for e, t in template.items()}
    top = (2, mouth.TEMPLATE_COLUMNS // 2)  # just under the upper lip
    assert luma["happiness"][top] > 3 * luma["surprise"][top]  # teeth against a dark cavity
    np.testing.assert_allclose(template["fear"], template["happiness"])
    red, _, blue = template["surprise"][:, top[0], top[1]]
    assert red > blue  # the colour photos' cavity hue, not grey
    # A dark greyscale opening takes the colour photos' cavity, its level too, not its own grey.
    np.testing.assert_allclose(template["surprise"], np.broadcast_to(learned.cavity[:, None, None], template["surprise"].shape), rtol=1e-5)
    # Greyscale teeth take the colour photos' teeth, at their level (not the grey photos' 240/200).
    assert luma["disgust"][top] == pytest.approx(float(luma["happiness"].max()), rel=0.15)
    assert luma["disgust"][top] > 3 * luma["surprise"][top]


def test_appearance_comes_from_the_same_apex_faces_as_the_geometry(tmp_path: Path) -> None:
    from trainer.geometry import fit_appearance, fit_geometry, reference_face

    # Half the subjects smile strongly and their cheeks brighten; the faint half stays flat.
    pairs = []
    for n in range(12):
        lift = np.zeros((68, 2))
        lift[[48, 54], 1] = -1.0 if n < 6 else -3.0
        pairs += [(f"{n:03d}", "neutral", BASE, False), (f"{n:03d}", "happiness", BASE + lift, False)]
    classes = [("", label, BASE, True) for label in ("neutral", *EXPRESSIONS) for _ in range(12)]
    folders = [_prepared(tmp_path / "pairs", "pairs", pairs), _prepared(tmp_path / "folders", "folders", classes)]
    import json

    manifest = folders[0] / "manifest.jsonl"
    records = [json.loads(line) for line in manifest.read_text().splitlines()]
    for record in records:
        if record["label"] == "happiness" and int(record["subject"]) >= 6:
            cheek = np.full((SIZE, SIZE, 3), (150, 110, 90), np.uint8)
            cheek[28:36, 28:36] = (230, 190, 170)  # a bright patch mid-face (the crops' flat colour elsewhere)
            save_photo(folders[0] / record["file"], cheek, overwrite=True)
    reference = reference_face(folders)
    happy = EXPRESSIONS.index("happiness")
    strong = fit_geometry(folders, reference, apex=0.5)
    assert strong[happy].chosen["pairs"] == tuple(range(6, 12))  # the strong smilers, in subject order
    all_faces = fit_appearance(folders, reference, fit_geometry(folders, reference), SIZE)[happy]
    apex_faces = fit_appearance(folders, reference, strong, SIZE)[happy]
    # All twelve pairs: the patch is in half of the smiles; the apex six: in all of them.
    patch_all, patch_apex = all_faces[30:34, 30:34].mean(), apex_faces[30:34, 30:34].mean()
    assert patch_all > 0.05 and patch_apex == pytest.approx(2 * patch_all, rel=0.15)


def test_appearance_leaves_out_padding_smeared_from_the_photos_edge(tmp_path: Path) -> None:
    from trainer.geometry import fit_appearance, fit_geometry, reference_face
    from trainer.manifest import read_prepared, write_prepared

    # Fear darkens between the brows. Its photos end at row 40 of the crop: below, prepare
    # smeared their last row (here dark) downwards. The neutral photos show the whole crop.
    classes = [("", label, BASE, True) for label in ("neutral", *EXPRESSIONS) for _ in range(12)]
    folder = _prepared(tmp_path / "folders", "folders", classes)
    info, records = read_prepared(folder)
    short = tmp_path / "short.png"
    save_photo(short, np.full((40, SIZE, 3), 60, np.uint8))  # a photo 40 rows high
    tall = tmp_path / "tall.png"
    save_photo(tall, np.full((SIZE, SIZE, 3), 128, np.uint8))
    updated = []
    for record in records:
        if record.label == "fear":
            pixels = np.full((SIZE, SIZE, 3), 128, np.uint8)
            pixels[24:30, 28:36] = 90
            pixels[40:] = 60  # the smear
            save_photo(folder / record.file, pixels, overwrite=True)
        source = short if record.label == "fear" else tall
        updated.append(FaceRecord(**{**record.__dict__, "source": str(source)}))
    write_prepared(folder, info, updated)
    reference = reference_face([folder])
    fear_map = fit_appearance([folder], reference, fit_geometry([folder], reference), SIZE)[EXPRESSIONS.index("fear")]
    assert fear_map[26:28, 30:34].mean() < -0.2  # the brows, which the photos show, are learned
    assert np.abs(fear_map[44:60]).max() < 1e-6  # the smear is not: no fear photo shows those rows
