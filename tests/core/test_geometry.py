"""Expression geometry: the per-face warp from learned landmark shifts, and models that carry it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from faceedit.core.models.geometry import STABLE_POINTS, face_shape_fields, face_shifts, shape_fields, to_reference_frame


def _face(size: int = 64) -> np.ndarray:
    """68 well-spread points in a crop: a jaw arc of 17 and a jittered 51-point lattice inside."""
    rng = np.random.default_rng(0)
    t = np.linspace(0, np.pi, 17)
    jaw = np.stack([size / 2 - 0.3 * size * np.cos(t), 0.45 * size + 0.35 * size * np.sin(t)], 1)
    ys, xs = np.mgrid[0:6, 0:9]
    lattice = np.stack([0.26 + 0.06 * xs.ravel(), 0.3 + 0.08 * ys.ravel()], 1)[:51] * size
    return np.vstack([jaw, lattice + rng.uniform(-0.5, 0.5, lattice.shape)])


def test_a_landmark_moves_by_its_shift_and_the_border_stays() -> None:
    size = 64
    points = _face(size)
    shifts = np.zeros((2, 68, 2))
    shifts[0, 54] = (3.0, -4.0)  # a mouth corner out and up
    fields = shape_fields(points, shifts, size)
    assert fields.shape == (2, 2, size, size)
    x, y = np.round(points[54]).astype(int)
    # backward field: the output pixel at the point samples from towards point − shift (the
    # spline is smoothed, and its unmoved neighbours hold it back a little)
    got = fields[0, :, y, x]
    assert got @ np.array([-3.0, 4.0]) / 25 > 0.6 and np.hypot(*got) < 5.5
    # Anchored around the face: small at the crop's border (the editor's face mask then zeroes it).
    assert np.abs(fields[0][:, [0, -1], :]).max() < 0.3 and np.abs(fields[0][:, :, [0, -1]]).max() < 0.3
    assert np.abs(fields[1]).max() == 0  # no shift, no warp


def test_shifts_follow_the_face_scale_through_the_reference_frame() -> None:
    size = 64
    reference = _face(size) / size
    small = (reference - 0.5) * size * 0.5 + size / 2  # the same face at half the scale
    assert np.allclose(to_reference_frame(small, reference)[list(STABLE_POINTS)], reference[list(STABLE_POINTS)], atol=1e-6)
    shifts = np.zeros((1, 68, 2))
    shifts[0, 54] = (0.05, 0.0)  # 5 % of the crop in the reference frame
    at = {}
    for name, face in (("full", reference * size), ("small", small)):
        landmarks = torch.tensor(face[None])
        fields, _ = face_shape_fields(landmarks, face_shifts(landmarks, torch.tensor(shifts), torch.tensor(reference)), size)
        x, y = np.round(face[54]).astype(int)
        at[name] = float(fields[0, 0, 0, y, x])
    assert at["full"] < -1.0 and 0.35 < at["small"] / at["full"] < 0.65  # half the face, about half the pixels


def test_geometry_model_round_trips_and_stays_bit_identical_at_rest(tmp_path: Path, london_neutral: Path) -> None:
    from faceedit.core.editor import ExpressionEditor
    from faceedit.core.expressions import ExpressionTargets
    from faceedit.core.faces import face_detector
    from faceedit.core.imageio import load_photo
    from faceedit.core.models.exprgan import ExprGANConfig, Generator
    from faceedit.core.models.file import load_model, save_model

    from faceedit.core.alignment import align_face

    pixels = load_photo(london_neutral).pixels
    detected = face_detector().detect(pixels)
    torch.manual_seed(0)
    network = Generator(ExprGANConfig(image_size=64, width=0.125, geometry=True))
    network.landmark_reference.copy_(torch.tensor(align_face(pixels, detected[0].landmarks, 64).landmarks / 64))
    network.landmark_shifts[3, 48] = torch.tensor([-0.02, -0.03])
    network.landmark_shifts[3, 54] = torch.tensor([0.02, -0.03])
    save_model(tmp_path / "geo.pt", network)
    model = load_model(tmp_path / "geo.pt")
    assert model.info.config.geometry and torch.equal(model.network.landmark_shifts, network.landmark_shifts)
    editor = ExpressionEditor(model)
    faces = [editor.encode(pixels, f) for f in detected]
    assert faces[0].reading.shape is not None
    assert np.array_equal(editor.render(pixels, faces, ExpressionTargets()), pixels)
    change = editor.change(faces[0], np.array([0, 0, 0, 1, 0, 0], np.float32))
    assert change is not None and change.displacement is not None and np.abs(change.displacement).max() > 0.5
    edited = editor.render(pixels, faces, ExpressionTargets.from_mapping({"happiness": 1.0}))
    moved = np.abs(edited.astype(int) - pixels).max(axis=2) > 0
    rows, cols = np.nonzero(moved)
    assert moved.any() and rows.min() > pixels.shape[0] * 0.15 and rows.max() < pixels.shape[0] * 0.9


def test_mean_ratio_appearance_brightens_where_its_map_says_and_only_there(tmp_path: Path, london_neutral: Path) -> None:
    import pytest

    from faceedit.core.alignment import align_face
    from faceedit.core.editor import ExpressionEditor
    from faceedit.core.expressions import ExpressionTargets
    from faceedit.core.faces import face_detector
    from faceedit.core.imageio import load_photo
    from faceedit.core.models.exprgan import ExprGANConfig, Generator
    from faceedit.core.models.file import load_model, save_model

    with pytest.raises(ValueError, match="needs geometry"):
        ExprGANConfig(image_size=64, appearance="mean_ratio")
    pixels = load_photo(london_neutral).pixels
    detected = face_detector().detect(pixels)
    points = align_face(pixels, detected[0].landmarks, 64).landmarks
    network = Generator(ExprGANConfig(image_size=64, width=0.125, image_channels=1, geometry=True, appearance="mean_ratio"))
    network.landmark_reference.copy_(torch.tensor(points / 64))
    ratio = torch.zeros(6, 64, 64)
    top, bottom = int(points[48:68, 1].min()) - 2, int(points[48:68, 1].max()) + 2
    left, right = int(points[48, 0]), int(points[54, 0])
    ratio[3, top:bottom, left:right] = 0.3  # happiness: the mouth region 35 % brighter
    network.appearance_log_ratio.copy_(ratio)
    save_model(tmp_path / "ratio.pt", network)
    editor = ExpressionEditor(load_model(tmp_path / "ratio.pt"))
    faces = [editor.encode(pixels, f) for f in detected]
    assert np.array_equal(editor.render(pixels, faces, ExpressionTargets()), pixels)
    step = 1.0 - float(faces[0].recognised[3])
    edited = editor.render(pixels, faces, ExpressionTargets.from_mapping({"happiness": 1.0})).astype(float)
    mouth = detected[0].landmarks[48:68].mean(axis=0).astype(int)
    before, after = pixels[mouth[1], mouth[0]].astype(float), edited[mouth[1], mouth[0]]
    assert after.sum() / before.sum() == pytest.approx(np.exp(0.3 * step), rel=0.08)
    np.testing.assert_allclose(after / after.sum(), before / before.sum(), atol=0.01)  # chromaticity kept
    eyes = detected[0].landmarks[36:48].mean(axis=0).astype(int)
    assert np.array_equal(edited[eyes[1], eyes[0]], pixels[eyes[1], eyes[0]])  # where the map is 0, no change


def test_warped_network_draws_a_ratio_per_face_carried_onto_it(tmp_path: Path, london_neutral: Path) -> None:
    import pytest

    from faceedit.core.alignment import align_face
    from faceedit.core.compositing import face_mask
    from faceedit.core.editor import ExpressionEditor
    from faceedit.core.expressions import ExpressionTargets
    from faceedit.core.faces import face_detector
    from faceedit.core.imageio import load_photo
    from faceedit.core.models.cdaae import CDAAEConfig
    from faceedit.core.models.exprgan import ExprGANConfig, Generator
    from faceedit.core.models.file import load_model, save_model
    from faceedit.core.models.geometry import MAX_LOG_RATIO

    with pytest.raises(ValueError, match="needs geometry"):
        ExprGANConfig(image_size=64, appearance="warped_network")
    with pytest.raises(ValueError, match="appearance must be one of"):
        CDAAEConfig(image_size=64, geometry=True, appearance="warped_network")  # only ExprGAN draws it
    pixels = load_photo(london_neutral).pixels
    detected = face_detector().detect(pixels)
    points = align_face(pixels, detected[0].landmarks, 64).landmarks
    torch.manual_seed(0)
    network = Generator(ExprGANConfig(image_size=64, width=0.125, image_channels=1, geometry=True, appearance="warped_network"))
    network.landmark_reference.copy_(torch.tensor(points / 64))
    save_model(tmp_path / "warped.pt", network)
    model = load_model(tmp_path / "warped.pt")
    # A stand-in decoder (the random one draws almost nothing): in the mean face's frame, the
    # happy face is brighter over the mouth, and nothing else differs.
    top, bottom = int(points[48:68, 1].min()) - 1, int(points[48:68, 1].max()) + 2
    left, right = int(points[48, 0]), int(points[54, 0]) + 1

    def decode(z: torch.Tensor, intensities: torch.Tensor) -> torch.Tensor:
        faces = torch.full((z.shape[0], 1, 64, 64), -0.2)
        faces[:, :, top:bottom, left:right] += 0.4 * intensities[:, 3, None, None, None]
        return faces

    model.network.decode = decode
    maps = model.network.ratio_maps(torch.zeros(2, model.info.config.z_dim))
    assert maps.shape == (2, 6, 64, 64) and maps.abs().max() <= MAX_LOG_RATIO
    assert maps[:, 3, (top + bottom) // 2, (left + right) // 2].min() > 0.3 and maps[:, [0, 1, 2, 4, 5]].abs().max() == 0
    outside = torch.from_numpy(face_mask(points, 64) == 0)
    assert maps.abs().amax(dim=(0, 1))[outside].max() == 0  # only the face changes
    editor = ExpressionEditor(model)
    faces = [editor.encode(pixels, f) for f in detected]
    assert np.array_equal(editor.render(pixels, faces, ExpressionTargets()), pixels)  # at rest: bit-identical
    edited = editor.render(pixels, faces, ExpressionTargets.from_mapping({"happiness": 1.0})).astype(float)
    mouth = detected[0].landmarks[48:68].mean(axis=0).astype(int)
    eyes = detected[0].landmarks[36:48].mean(axis=0).astype(int)
    assert edited[mouth[1], mouth[0]].sum() > 1.2 * pixels[mouth[1], mouth[0]].astype(float).sum()  # carried onto the mouth
    assert np.array_equal(edited[eyes[1], eyes[0]], pixels[eyes[1], eyes[0]])
    # Without landmarks there is no frame to carry the network's ratios into: nothing changes.
    reading = model.network.read(faces[0].reading.shape.images)
    edit = model.network.render(reading, torch.tensor([[0, 0, 0, 1.0, 0, 0]]))
    assert edit.image_change is not None and edit.image_change.abs().max() == 0
