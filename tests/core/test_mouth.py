"""The mouth interior: mouth coordinates, the overlay where a mouth opens, and painting it into a photo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from faceedit.core.models import mouth


def _mouth_landmarks(gap: float = 0.0) -> np.ndarray:
    """68 points (only the mouth's matter) of a 40-px-wide mouth centred at (32, 40) in a 64 crop; ``gap`` parts the inner lips."""
    points = np.zeros((68, 2))
    points[:, :] = (32.0, 20.0)  # everything else far above the mouth
    xs = np.array([12.0, 22.0, 32.0, 42.0, 52.0])
    for index, x in zip(mouth.UPPER_INNER_LIP, xs):
        points[index] = (x, 40.0 - (gap / 2 if 12 < x < 52 else 0.0))
    for index, x in zip(mouth.LOWER_INNER_LIP, xs):
        points[index] = (x, 40.0 + (gap / 2 if 12 < x < 52 else 0.0))
    return points


def test_mouth_coordinates_run_from_corner_to_corner_and_down_from_the_upper_lip() -> None:
    points = _mouth_landmarks(gap=8.0)
    u, t = mouth.mouth_coordinates(np.array([[12.0, 40.0], [52.0, 40.0], [32.0, 36.0], [32.0, 44.0]]), points)
    assert np.allclose(u, [0.0, 1.0, 0.5, 0.5])
    assert np.allclose(t[2:], [0.0, 8.0 / 40.0])  # the upper lip at 36; 8 px below it is 0.2 mouth widths
    assert mouth.opening(points) == pytest.approx(8.0 / 40.0)
    assert mouth.opening(_mouth_landmarks(0.0)) == pytest.approx(0.0)


def _template(upper: float, lower: float) -> np.ndarray:
    """A template that is ``upper`` (relative to the light level) in its top half and ``lower`` below."""
    template = np.full((3, mouth.TEMPLATE_ROWS, mouth.TEMPLATE_COLUMNS), lower, np.float32)
    template[:, : mouth.TEMPLATE_ROWS // 4] = upper
    return template


def test_overlay_paints_only_the_new_opening_with_teeth_under_the_upper_lip() -> None:
    closed, opened = _mouth_landmarks(0.0), _mouth_landmarks(12.0)
    assert mouth.interior_overlay(closed, mouth.opening(closed), _template(1.0, 0.2), 200.0, 64) is None
    # A mouth that was already this open keeps its own interior: nothing painted.
    assert mouth.interior_overlay(opened, mouth.opening(opened), _template(1.0, 0.2), 200.0, 64) is None
    overlay = mouth.interior_overlay(opened, 0.0, _template(1.0, 0.2), 200.0, 64)
    assert overlay is not None and overlay.shape == (256, 256, 4)
    covered = overlay[..., 3] > 0.99
    rows, cols = np.nonzero(covered)
    scale = mouth.OVERLAY_SCALE
    # Inside the inner lips only (x 12…52, y 34…46 in crop pixels).
    assert cols.min() >= 12 * scale and cols.max() <= 53 * scale and rows.min() >= 34 * scale - 1 and rows.max() <= 46 * scale + 2
    below_upper_lip = overlay[int(35 * scale), 32 * scale, :3]
    deep = overlay[int(45.5 * scale), 32 * scale, :3]
    assert np.allclose(below_upper_lip, 200.0, atol=1.0)  # teeth: 1.0 × the light level
    assert np.allclose(deep, 40.0, atol=1.0)  # cavity: 0.2 ×
    assert (overlay[~(overlay[..., 3] > 0)] == 0).all()


def test_light_level_reads_the_whites_of_the_eyes_or_brighter_skin() -> None:
    luma = np.full((64, 64), 90.0, np.float32)
    points = _mouth_landmarks()
    for eye, cx in ((mouth.LEFT_EYE, 20.0), (mouth.RIGHT_EYE, 44.0)):
        angles = np.linspace(0, 2 * np.pi, 6, endpoint=False)
        points[list(eye)] = np.stack([cx + 5 * np.cos(angles), 24 + 2.5 * np.sin(angles)], axis=1)
    luma[21:28, 12:52] = 230.0  # the whites
    luma[21:28, 18:23] = 40.0  # an iris
    assert mouth.light_level(luma, points) == pytest.approx(230.0, abs=5.0)
    # Eyes in shadow (or blurred into dark lids) on bright skin: the skin sets the level.
    luma[21:28, 12:52] = 70.0
    luma[18:23, 30:35] = 160.0  # where the cheek points of these landmarks fall
    assert mouth.light_level(luma, points) == pytest.approx(160.0)


def test_painting_an_overlay_changes_only_where_alpha_is_positive() -> None:
    from faceedit.core.compositing import paint_overlay

    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)
    original = pixels.copy()
    overlay = np.zeros((256, 256, 4), np.float32)
    overlay[100:140, 80:180, :3] = (250.0, 240.0, 230.0)
    overlay[100:140, 80:180, 3] = 1.0
    to_photo = np.array([[3.0, 0.0, 50.0], [0.0, 3.0, 20.0]])  # a 64 crop shown 3× in the photo
    paint_overlay(pixels, overlay, to_photo, 64)
    changed = np.any(pixels != original, axis=2)
    rows, cols = np.nonzero(changed)
    # Overlay px 80…180 × 100…140 = crop 20…45 × 25…35 = photo 110…185 × 95…125 (± a pixel of blending).
    assert 108 <= cols.min() and cols.max() <= 187 and 93 <= rows.min() and rows.max() <= 127
    assert np.array_equal(pixels[110, 150], [250, 240, 230])
    assert not changed[:90].any() and not changed[:, :100].any()


def test_mouth_interior_model_opens_the_mouth_and_is_bit_identical_at_rest(tmp_path: Path, london_neutral: Path) -> None:
    from faceedit.core.alignment import align_face
    from faceedit.core.editor import ExpressionEditor
    from faceedit.core.expressions import ExpressionTargets
    from faceedit.core.faces import face_detector
    from faceedit.core.imageio import load_photo
    from faceedit.core.models.exprgan import ExprGANConfig, Generator
    from faceedit.core.models.file import load_model, save_model

    with pytest.raises(ValueError, match="needs geometry"):
        ExprGANConfig(image_size=64, mouth_interior=True)
    pixels = load_photo(london_neutral).pixels
    detected = face_detector().detect(pixels)
    torch.manual_seed(0)
    network = Generator(ExprGANConfig(image_size=64, width=0.125, geometry=True, mouth_interior=True))
    network.landmark_reference.copy_(torch.tensor(align_face(pixels, detected[0].landmarks, 64).landmarks / 64))
    network.landmark_shifts[5, 57] = torch.tensor([0.0, 0.05])  # surprise drops the lower lip …
    network.landmark_shifts[5, 65:68] = torch.tensor([0.0, 0.05])  # … and its inner edge
    network.mouth_template.fill_(0.1)  # a dark interior
    save_model(tmp_path / "mouth.pt", network)
    editor = ExpressionEditor(load_model(tmp_path / "mouth.pt"))
    faces = [editor.encode(pixels, f) for f in detected]
    assert np.array_equal(editor.render(pixels, faces, ExpressionTargets()), pixels)
    change = editor.change(faces[0], np.array([0, 0, 0, 0, 0, 1], np.float32))
    assert change is not None and change.overlay is not None
    edited = editor.render(pixels, faces, ExpressionTargets.from_mapping({"surprise": 1.0}))
    lips = detected[0].landmarks[60:68]
    x0, y0 = lips.min(axis=0).astype(int)
    x1, _ = lips.max(axis=0).astype(int)
    # The opening below the upper inner lip is dark now.
    opening = edited[y0 + 2 : y0 + 6, x0 + 6 : x1 - 6].astype(float).mean()
    assert opening < pixels[y0 + 2 : y0 + 6, x0 + 6 : x1 - 6].astype(float).mean() - 20


def test_each_expression_paints_its_own_interior_and_old_files_share_one(tmp_path: Path, london_neutral: Path) -> None:
    """Surprise paints its dark interior, happiness its bright one; a file from before interiors
    were per expression (one 3×rows×columns template) gives every expression that template."""
    from faceedit.core.alignment import align_face
    from faceedit.core.editor import ExpressionEditor
    from faceedit.core.expressions import EXPRESSIONS
    from faceedit.core.faces import face_detector
    from faceedit.core.imageio import load_photo
    from faceedit.core.models.exprgan import ExprGANConfig, Generator
    from faceedit.core.models.file import load_model, save_model

    pixels = load_photo(london_neutral).pixels
    detected = face_detector().detect(pixels)
    torch.manual_seed(0)
    network = Generator(ExprGANConfig(image_size=64, width=0.125, geometry=True, mouth_interior=True))
    network.landmark_reference.copy_(torch.tensor(align_face(pixels, detected[0].landmarks, 64).landmarks / 64))
    for name in ("happiness", "surprise"):  # both drop the lower lip
        k = EXPRESSIONS.index(name)
        network.landmark_shifts[k, 57] = torch.tensor([0.0, 0.05])
        network.landmark_shifts[k, 65:68] = torch.tensor([0.0, 0.05])
    network.mouth_template[EXPRESSIONS.index("happiness")].fill_(1.0)  # bright
    network.mouth_template[EXPRESSIONS.index("surprise")].fill_(0.1)  # dark
    save_model(tmp_path / "mouths.pt", network)
    editor = ExpressionEditor(load_model(tmp_path / "mouths.pt"))
    face = editor.encode(pixels, detected[0])

    def interior(name: str) -> float:
        change = editor.change(face, np.array([float(e == name) for e in EXPRESSIONS], np.float32))
        assert change is not None and change.overlay is not None
        rgba = change.overlay
        return float(rgba[..., :3][rgba[..., 3] > 0].mean())

    assert interior("happiness") > interior("surprise") + 50

    old = {k: v.clone() for k, v in network.state_dict().items()}
    old["mouth_template"] = network.mouth_template[EXPRESSIONS.index("surprise")].clone()  # the old 3×rows×columns
    fresh = Generator(network.config)
    fresh.load_state_dict(old)
    assert all(torch.equal(t, network.mouth_template[EXPRESSIONS.index("surprise")]) for t in fresh.mouth_template)


def test_the_opening_is_a_smooth_outline_through_the_inner_lips() -> None:
    """The painted opening follows curves through the eight inner-lip points, not straight edges."""
    points = np.zeros((68, 2))
    points[list(mouth.UPPER_INNER_LIP)] = [[0, 10], [10, 6], [20, 5], [30, 6], [40, 10]]
    points[[67, 66, 65]] = [[10, 16], [20, 18], [30, 16]]
    outline = mouth.inner_lip_outline(points)
    for index in mouth.INNER_MOUTH:  # passes through every landmark, each once
        assert np.isclose(outline, points[index]).all(axis=1).sum() == 1
    assert len(outline) == 8 * mouth.SAMPLES_PER_SEGMENT
    # Between 61 and 62 the upper lip bows above their chord (it is higher in the middle).
    between = outline[mouth.SAMPLES_PER_SEGMENT + mouth.SAMPLES_PER_SEGMENT // 2]
    assert between[1] < (points[61, 1] + points[62, 1]) / 2
    # … but never bulges past the lip points: the opening stays between the lowest and highest of them.
    lips = points[list(mouth.INNER_MOUTH)]
    assert outline[:, 1].max() <= lips[:, 1].max() + 1e-9 and outline[:, 1].min() >= lips[:, 1].min() - 1e-9


def test_the_opening_has_an_antialiased_edge() -> None:
    """Edge pixels are partly covered, so the lips' edge does not show stair steps."""
    opened = _mouth_landmarks(12.0)
    overlay = mouth.interior_overlay(opened, 0.0, _template(0.2, 0.2), 200.0, 64)
    assert overlay is not None
    alpha = overlay[..., 3]
    partial = (alpha > 0.05) & (alpha < 0.95)
    assert partial.sum() > 0.5 * (alpha >= 0.95).sum() ** 0.5  # a rim of partial pixels around the opening, not a handful
