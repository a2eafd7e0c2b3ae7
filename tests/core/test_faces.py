"""Detection and alignment on real faces, including rotated, shifted and scaled copies."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import shared_file
from faceedit.core.alignment import (
    TEMPLATE_5,
    align_face,
    apply_affine,
    five_points,
    invert_affine,
    similarity_transform,
    template_points,
)
from faceedit.core.faces import DetectedFace, face_detector
from faceedit.core.errors import NoFaceError
from faceedit.core.pipeline import select_faces


def _rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def test_similarity_transform_recovers_a_known_transform() -> None:
    rng = np.random.default_rng(0)
    points = rng.uniform(0, 100, (5, 2))
    angle, scale, shift = np.deg2rad(23), 1.7, np.array([12.0, -4.0])
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = points @ rotation.T + shift
    matrix = similarity_transform(points, moved)
    assert np.allclose(apply_affine(matrix, points), moved)
    assert np.allclose(apply_affine(invert_affine(matrix), moved), points)


@pytest.mark.parametrize("name", ["lisa1", "lisa2", "lisa3", "lisa4"])
@pytest.mark.parametrize("angle,scale,shift", [(0, 1.0, (0, 0)), (25, 0.7, (60, -40)), (-30, 1.3, (-50, 30))])
def test_aligned_eyes_land_on_the_template(name: str, angle: float, scale: float, shift: tuple[int, int]) -> None:
    image = _rgb(shared_file(f"lisa/{name}.jpg"))
    h, w = image.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    matrix[:, 2] += shift
    moved = cv2.warpAffine(image, matrix, (w, h), borderMode=cv2.BORDER_REFLECT)
    faces = face_detector().detect(moved)
    assert len(faces) >= 1
    size = 128
    aligned = align_face(moved, faces[0].landmarks, size)
    got = five_points(aligned.landmarks)
    want = template_points(size)
    eye_error = np.linalg.norm(got[:2] - want[:2], axis=1)
    assert eye_error.max() < 3.0, eye_error
    # The crop really shows those landmarks: re-detecting in the crop finds the eyes there too.
    assert np.allclose(apply_affine(aligned.to_photo, aligned.landmarks), faces[0].landmarks, atol=1e-6)


def test_large_photo_is_detected_on_a_downscaled_copy_at_full_resolution_coordinates() -> None:
    image = _rgb(shared_file("lisa/lisa1.jpg"))
    small = face_detector().detect(image)[0]
    big = cv2.resize(image, None, fx=4, fy=4, interpolation=cv2.INTER_CUBIC)  # 2304×3072
    faces = face_detector().detect(big)
    assert len(faces) == 1
    assert np.abs(faces[0].landmarks / 4 - small.landmarks).mean() < 3.0
    aligned = align_face(big, faces[0].landmarks, 128)
    assert aligned.scale > 10  # a big face, area-averaged down to the crop


def test_no_face_in_a_plain_image() -> None:
    image = np.full((300, 400, 3), 128, np.uint8)
    cv2.circle(image, (200, 150), 60, (200, 170, 150), -1)
    assert face_detector().detect(image) == []
    with pytest.raises(NoFaceError, match="no face"):
        select_faces([], "plain.png")


def test_tiny_faces_and_bad_face_numbers_are_explained() -> None:
    tiny = DetectedFace((10, 10, 30, 30), np.zeros((68, 2)), 1.0)
    with pytest.raises(NoFaceError, match="too small"):
        select_faces([tiny], "group.jpg")
    big = DetectedFace((0, 0, 200, 200), np.zeros((68, 2)), 1.0)
    assert select_faces([big, tiny], "group.jpg") == [(0, big)]
    with pytest.raises(NoFaceError, match="has 2 face"):
        select_faces([big, tiny], "group.jpg", face_index=5)


def test_template_is_inside_the_crop() -> None:
    assert ((TEMPLATE_5 > 0.2) & (TEMPLATE_5 < 0.85)).all()


def _tight_crop() -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    """A London face cropped inside its landmarks (it fills the frame), the full-photo
    landmarks and the crop's origin in the photo."""
    image = _rgb(shared_file("london/neutral/001.jpg"))
    landmarks = face_detector().detect(image)[0].landmarks
    (x0, y0), (x1, y1) = landmarks.min(axis=0).astype(int), landmarks.max(axis=0).astype(int)
    x0, y0, x1, y1 = x0 + 20, y0, x1 - 20, y1 - 20
    return np.ascontiguousarray(image[y0:y1, x0:x1]), landmarks, (x0, y0)


def test_a_face_filling_its_frame_is_found_on_a_padded_copy_in_the_crop_coordinates() -> None:
    import dlib

    crop, photo_landmarks, origin = _tight_crop()
    height, width = crop.shape[:2]
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    assert len(dlib.get_frontal_face_detector()(grey, 1)) == 0  # the plain HOG pass misses it
    faces = face_detector().detect(crop)
    assert len(faces) == 1 and faces[0].padded
    face = faces[0]
    x0, y0, x1, y1 = face.box
    assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
    assert face.width > 0.6 * width  # the face, not a speck
    # Landmarks moved back by the border, clipped to the crop, and where the full photo has them.
    assert (face.landmarks >= 0).all() and (face.landmarks[:, 0] <= width - 1).all() and (face.landmarks[:, 1] <= height - 1).all()
    expected = photo_landmarks - origin
    inside = (expected >= 0).all(axis=1) & (expected[:, 0] < width) & (expected[:, 1] < height)
    error = np.abs(face.landmarks[inside] - expected[inside])
    assert np.median(error) <= 2.0 and error.max() < 10.0, error.max()


def test_faces_found_without_padding_are_unchanged() -> None:
    faces = face_detector().detect(_rgb(shared_file("london/neutral/001.jpg")))
    assert len(faces) == 1 and not faces[0].padded


def test_expressions7_crops_the_plain_pass_misses_are_found() -> None:
    import dlib

    found = 0
    for name in ("anger/00001.jpg", "anger/00002.jpg", "anger/00005.jpg", "disgust/00002.jpg"):
        grey = cv2.cvtColor(_rgb(shared_file(f"expressions7/{name}")), cv2.COLOR_RGB2GRAY)
        assert len(dlib.get_frontal_face_detector()(grey, 1)) == 0, name
        faces = face_detector().detect(_rgb(shared_file(f"expressions7/{name}")))
        found += bool(faces) and not faces[0].too_small
    assert found >= 3
