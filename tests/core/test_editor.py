"""Editor and paste-back: zero change is bit-identical, nothing outside the face changes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from faceedit.core.alignment import crop_footprint
from faceedit.core.models.file import load_model
from faceedit.core.compositing import face_mask, paste_change
from faceedit.core.editor import ExpressionEditor
from faceedit.core.expressions import EXPRESSIONS, ExpressionTargets, dominant_expression
from faceedit.core.faces import face_detector
from faceedit.core.imageio import load_photo


@pytest.fixture(scope="module")
def editor(tiny_model_path: Path) -> ExpressionEditor:
    return ExpressionEditor(load_model(tiny_model_path))


@pytest.fixture(scope="module")
def photo(london_neutral: Path) -> np.ndarray:
    return load_photo(london_neutral).pixels


def test_targets_resolve_keeps_unset_expressions() -> None:
    recognised = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6], np.float32)
    targets = ExpressionTargets.from_mapping({"happiness": 1.0, "surprise": 0.0})
    assert targets.resolve(recognised).tolist() == pytest.approx([0.1, 0.2, 0.3, 1.0, 0.5, 0.0])
    assert ExpressionTargets().resolve(recognised).tolist() == pytest.approx(recognised.tolist())
    with pytest.raises(ValueError):
        ExpressionTargets.from_mapping({"joy": 1.0})
    with pytest.raises(ValueError):
        ExpressionTargets.from_mapping({"anger": 1.5})
    assert dominant_expression([0, 0, 0, 0.9, 0, 0]) == ("happiness", pytest.approx(0.9))
    assert dominant_expression([0.1] * 6)[0] == "neutral"


def test_recognised_state_renders_bit_identical(editor: ExpressionEditor, photo: np.ndarray) -> None:
    face = face_detector().detect(photo)[0]
    encoded = editor.encode(photo, face)
    assert np.array_equal(editor.render(photo, [encoded], ExpressionTargets()), photo)
    same = ExpressionTargets.exactly(encoded.recognised.tolist())
    assert np.array_equal(editor.render(photo, [encoded], same), photo)


def test_a_change_stays_inside_the_face(editor: ExpressionEditor, photo: np.ndarray) -> None:
    face = face_detector().detect(photo)[0]
    encoded = editor.encode(photo, face)
    before = photo.copy()
    edited = editor.render(photo, [encoded], ExpressionTargets.from_mapping({"happiness": 1.0, "anger": 0.0}))
    assert np.array_equal(photo, before), "render must not modify its input"
    changed = np.any(edited != photo, axis=2)
    assert changed.sum() > 1000
    x0, y0, x1, y1 = crop_footprint(encoded.aligned.to_photo, editor.size, photo.shape)
    outside = np.ones_like(changed)
    outside[y0:y1, x0:x1] = False
    assert not changed[outside].any()
    # the changed pixels sit around the detected face, not in the background corners
    ys, xs = np.nonzero(changed)
    fx0, fy0, fx1, fy1 = face.box
    assert fx0 - 0.3 * face.width < xs.mean() < fx1 + 0.3 * face.width
    assert fy0 - 0.5 * face.width < ys.mean() < fy1


def test_slider_moves_run_the_decoder_only(editor: ExpressionEditor, photo: np.ndarray) -> None:
    face = face_detector().detect(photo)[0]
    calls = {"encoder": 0, "decoder": 0}
    hooks = [
        editor.model.network.encoder.register_forward_hook(lambda *a: calls.__setitem__("encoder", calls["encoder"] + 1)),
        editor.model.network.decoder.register_forward_hook(lambda *a: calls.__setitem__("decoder", calls["decoder"] + 1)),
    ]
    try:
        encoded = editor.encode(photo, face)
        for value in (0.2, 0.4, 0.6):
            editor.render(photo, [encoded], ExpressionTargets.from_mapping({"surprise": value}))
    finally:
        for hook in hooks:
            hook.remove()
    assert calls == {"encoder": 1, "decoder": 1 + 3}


def test_mask_is_zero_on_the_border_and_one_inside() -> None:
    size = 64
    landmarks = np.array([[size * (0.2 + 0.6 * i / 16), size * 0.7] for i in range(17)] + [[size * 0.5, size * 0.5]] * 51)
    landmarks[36:42] = [size * 0.35, size * 0.4]
    landmarks[42:48] = [size * 0.65, size * 0.4]
    landmarks[17:27, 1] = size * 0.33
    landmarks[17:27, 0] = np.linspace(size * 0.25, size * 0.75, 10)
    mask = face_mask(landmarks, size)
    assert mask.shape == (size, size)
    border = np.concatenate([mask[0], mask[-1], mask[:, 0], mask[:, -1]])
    assert border.max() == 0.0
    assert mask[int(size * 0.5), int(size * 0.5)] > 0.99


def test_paste_change_touches_only_its_footprint() -> None:
    pixels = np.random.default_rng(0).integers(0, 256, (200, 300, 3), dtype=np.uint8)
    original = pixels.copy()
    change = np.zeros((32, 32, 3), np.float32)
    change[8:24, 8:24] = 40.0
    to_photo = np.array([[2.0, 0.0, 100.0], [0.0, 2.0, 50.0]])
    paste_change(pixels, change, to_photo)
    diff = np.any(pixels != original, axis=2)
    ys, xs = np.nonzero(diff)
    assert xs.min() >= 100 + 2 * 7 and xs.max() <= 100 + 2 * 25
    assert ys.min() >= 50 + 2 * 7 and ys.max() <= 50 + 2 * 25
    centre = (pixels[82, 132].astype(int) - original[82, 132]).tolist()
    assert all(c == min(40, 255 - o) for c, o in zip(centre, original[82, 132]))


def test_luminance_model_moves_luminance_and_keeps_chromaticity(tmp_path: Path, photo: np.ndarray) -> None:
    from faceedit.core.models.file import save_model
    from faceedit.core.models.exprgan import Generator, ExprGANConfig

    torch.manual_seed(3)
    save_model(tmp_path / "luma.pt", Generator(ExprGANConfig(image_size=64, width=0.25, image_channels=1)))
    editor = ExpressionEditor(load_model(tmp_path / "luma.pt"))
    encoded = editor.encode(photo, face_detector().detect(photo)[0])
    change = editor.change(encoded, np.array([0, 0, 0, 1, 0, 0], np.float32))
    assert change is not None and change.image_change is not None and change.image_change.shape == (64, 64, 1)
    assert change.displacement is None
    edited = editor.render(photo, [encoded], ExpressionTargets.exactly([0, 0, 0, 1, 0, 0]))
    delta = edited.astype(int) - photo
    inner = (np.abs(delta).max(axis=2) > 0) & (photo.max(axis=2) < 250) & (photo.min(axis=2) > 5)
    assert inner.sum() > 100
    # R, G and B are scaled by one factor (chromaticity kept), up to rounding …
    before, after = photo[inner].astype(np.float64), edited[inner].astype(np.float64)
    factors = after / before
    bright = before.min(axis=1) > 60  # where rounding moves a ratio by < 1 %
    assert bright.sum() > 50
    assert np.percentile(factors[bright].max(axis=1) - factors[bright].min(axis=1), 99) < 0.03
    # … so the luminance moves by the model's change, not each channel by the same amount
    luma = np.array([0.299, 0.587, 0.114])
    assert np.abs((after - before) @ luma).mean() > 1
    assert len(EXPRESSIONS) == 6


def test_luminance_paste_keeps_dark_skin_saturated() -> None:
    """The same luminance gain on a saturated dark pixel: scaled, not washed towards grey."""
    from faceedit.core.compositing import paste_change

    pixels = np.zeros((40, 40, 3), np.uint8)
    pixels[:] = (90, 55, 40)  # dark brown, L ≈ 64
    change = np.zeros((20, 20, 1), np.float32)
    change[5:15, 5:15] = 32.0  # +32 in luminance
    to_photo = np.array([[1.0, 0, 10], [0, 1.0, 10]])
    paste_change(pixels, change, to_photo)
    changed = pixels[20, 20].astype(float)
    assert abs(changed @ np.array([0.299, 0.587, 0.114]) - (64.03 + 32)) < 1.5
    np.testing.assert_allclose(changed / np.array([90, 55, 40]), 1.5, atol=0.03)
    assert (pixels[0, 0] == (90, 55, 40)).all()  # outside the crop: untouched
