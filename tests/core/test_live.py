"""LiveEditor: re-encode a face only when it changes in the crop, re-render only on new sliders."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import shared_file
from faceedit.core.alignment import crop_footprint, five_points, similarity_transform, template_points
from faceedit.core.editor import ExpressionEditor
from faceedit.core.expressions import ExpressionTargets
from faceedit.core.faces import DetectedFace, face_detector
from faceedit.core.imageio import load_photo
from faceedit.core.live import LiveEditor
from faceedit.core.models.file import load_model

SMILE = ExpressionTargets.from_mapping({"happiness": 1.0, "anger": 0.0})
FROWN = ExpressionTargets.from_mapping({"anger": 1.0, "happiness": 0.0})
BROWS = slice(17, 27)  # the eyebrows: not among the five alignment points


@pytest.fixture(scope="module")
def editor(tiny_model_path: Path) -> ExpressionEditor:
    return ExpressionEditor(load_model(tiny_model_path))


@pytest.fixture(scope="module")
def frame(london_neutral: Path) -> tuple[np.ndarray, np.ndarray]:
    """A read-only frame and its face's 68 landmarks."""
    pixels = load_photo(london_neutral).pixels
    pixels.flags.writeable = False
    return pixels, face_detector().detect(pixels)[0].landmarks


def _crop_scale(editor: ExpressionEditor, landmarks: np.ndarray) -> float:
    """Crop pixels per frame pixel for this face."""
    to_crop = similarity_transform(five_points(landmarks), template_points(editor.size, editor.model.info.template))
    return float(np.sqrt(abs(np.linalg.det(to_crop[:, :2]))))


def _raise_brows(editor: ExpressionEditor, landmarks: np.ndarray, live: LiveEditor, tolerances: float) -> np.ndarray:
    """The landmarks with the eyebrows raised so the crop-space mean moves ``tolerances`` × the tolerance."""
    moved = landmarks.astype(np.float64).copy()
    mean_shift = tolerances * live.tolerance * editor.size  # crop pixels, mean over the 68 points
    moved[BROWS, 1] -= mean_shift * 68 / 10 / _crop_scale(editor, landmarks)
    return moved


def test_a_still_face_is_encoded_once_and_rendered_once(editor: ExpressionEditor, frame) -> None:  # noqa: ANN001
    pixels, landmarks = frame
    live = LiveEditor(editor)
    results = [live.edit(pixels, [landmarks], SMILE, now=t / 30) for t in range(10)]
    assert (live.encodes, live.decodes) == (1, 1)
    assert all(np.array_equal(r, results[0]) for r in results)
    changed = np.any(results[0] != pixels, axis=2)
    assert changed.any(), "the smile should change the face"
    # nothing changes outside the face's crop
    to_photo = editor.encode(pixels, DetectedFace.from_landmarks(landmarks)).aligned.to_photo
    x0, y0, x1, y1 = crop_footprint(to_photo, editor.size, pixels.shape)
    outside = np.ones_like(changed)
    outside[y0:y1, x0:x1] = False
    assert not changed[outside].any()


def test_rigid_head_motion_keeps_the_encoding_and_the_edit_follows(editor: ExpressionEditor, frame) -> None:  # noqa: ANN001
    pixels, landmarks = frame
    live = LiveEditor(editor)
    first = live.edit(pixels, [landmarks], SMILE, now=0.0)
    shift = np.array([12, 7])  # the head moves 12 px right, 7 px down
    moved_pixels = np.roll(pixels, (shift[1], shift[0]), axis=(0, 1))
    moved = live.edit(moved_pixels, [landmarks + shift], SMILE, now=0.1)
    assert (live.encodes, live.decodes) == (1, 1)  # the alignment absorbs the motion
    centre = np.argwhere(np.any(first != pixels, axis=2)).mean(axis=0)
    moved_centre = np.argwhere(np.any(moved != moved_pixels, axis=2)).mean(axis=0)
    assert np.abs(moved_centre - centre - shift[::-1]).max() < 1.0  # (y, x): pasted where the face is now


def test_a_face_that_changes_in_the_crop_is_encoded_again(editor: ExpressionEditor, frame) -> None:  # noqa: ANN001
    pixels, landmarks = frame
    live = LiveEditor(editor)
    live.edit(pixels, [landmarks], SMILE, now=0.0)
    live.edit(pixels, [_raise_brows(editor, landmarks, live, 0.5)], SMILE, now=0.1)
    assert (live.encodes, live.decodes) == (1, 1)  # within tolerance: the cache is kept
    live.edit(pixels, [_raise_brows(editor, landmarks, live, 2.0)], SMILE, now=0.2)
    assert (live.encodes, live.decodes) == (2, 2)  # beyond it: encoded again, so rendered again
    live.edit(pixels, [_raise_brows(editor, landmarks, live, 2.0)], SMILE, now=0.3)
    assert (live.encodes, live.decodes) == (2, 2)  # compared with the new encoding from now on


def test_an_old_encoding_is_refreshed(editor: ExpressionEditor, frame) -> None:  # noqa: ANN001
    pixels, landmarks = frame
    live = LiveEditor(editor, max_age=1.0)
    for now, encodes in ((0.0, 1), (0.9, 1), (1.05, 2), (1.5, 2), (2.1, 3)):
        live.edit(pixels, [landmarks], SMILE, now=now)
        assert live.encodes == encodes, now


def test_only_a_new_slider_state_renders_again(editor: ExpressionEditor, frame) -> None:  # noqa: ANN001
    pixels, landmarks = frame
    live = LiveEditor(editor)
    smile = live.edit(pixels, [landmarks], SMILE, now=0.0)
    same = ExpressionTargets.from_mapping({"happiness": 1.0, "anger": 0.0})  # equal, not the same object
    assert np.array_equal(live.edit(pixels, [landmarks], same, now=0.1), smile)
    assert live.decodes == 1
    frown = live.edit(pixels, [landmarks], FROWN, now=0.2)
    live.edit(pixels, [landmarks], FROWN, now=0.3)
    assert live.decodes == 2 and not np.array_equal(frown, smile)
    assert np.array_equal(live.edit(pixels, [landmarks], SMILE, now=0.4), smile)
    assert (live.encodes, live.decodes) == (1, 3)


def test_nothing_to_change_leaves_the_frame_bit_identical(editor: ExpressionEditor, frame) -> None:  # noqa: ANN001
    pixels, landmarks = frame
    live = LiveEditor(editor)
    kept = live.edit(pixels, [landmarks], ExpressionTargets(), now=0.0)  # every slider keeps the face's value
    assert np.array_equal(kept, pixels) and kept is not pixels
    recognised = live.recognised[0]
    assert len(recognised) == 6
    exact = live.edit(pixels, [landmarks], ExpressionTargets.exactly(recognised), now=0.1)
    assert np.array_equal(exact, pixels)
    assert np.array_equal(live.edit(pixels, [], SMILE, now=0.2), pixels)  # no face in the frame
    assert live.recognised == ()  # faces of the last frame only


def test_each_face_keeps_its_own_encoding(editor: ExpressionEditor) -> None:
    left, right = (load_photo(shared_file(f"london/neutral/{n}.jpg")).pixels for n in ("001", "002"))
    pixels = np.hstack([left, right])
    faces = sorted(face_detector().detect(pixels), key=lambda f: f.box[0])
    assert len(faces) == 2
    landmarks = [f.landmarks for f in faces]
    live = LiveEditor(editor)
    live.edit(pixels, landmarks, SMILE, now=0.0)
    assert (live.encodes, live.decodes) == (2, 2)
    first = live.recognised
    live.edit(pixels, landmarks[::-1], SMILE, now=0.1)  # the faces come in the other order
    assert (live.encodes, live.decodes) == (2, 2)
    assert live.recognised == first[::-1]
