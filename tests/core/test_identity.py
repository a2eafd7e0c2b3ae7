"""The torch port of dlib's face-recognition ResNet: reader, cache, loss, and equality with dlib.

Tests that need photos read them from ../shared/data and skip where it is absent; no
image is stored in the repository.
"""

from __future__ import annotations

import itertools
import math
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from faceedit.core.alignment import TEMPLATE_5, five_points
from faceedit.core.errors import ModelFileError
from faceedit.core.identity import (
    CACHE_ENV_VAR,
    DLIB_CHIP_POINTS_5,
    FEATURE_LAYERS,
    SAME_PERSON_THRESHOLD,
    CropToChip,
    DlibFaceResNet,
    IdentityFeatures,
    IdentityLoss,
    chip_descriptors,
    default_dat_path,
    descriptor_distance,
    face_chip,
    face_descriptor,
    identity_cache_dir,
    load_dlib_resnet,
    parse_dlib_net,
)
from faceedit.core.identity import weights as weights_module
from faceedit.core.alignment import align_face, similarity_transform
from faceedit.core.identity.dat_reader import AffineLayer
from faceedit.core.identity.network import add_padded

from conftest import SHARED_DATA as DATA, needs_shared_data as needs_data  # noqa: E402

DLIB_PARAMETER_COUNT = 5_614_592  # docs/ARCHITECTURE.md, "The identity network"


# ---------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never touch the real user cache, even through helpers that use the default one."""
    monkeypatch.setenv(CACHE_ENV_VAR, str(tmp_path_factory.getbasetemp() / "faceedit-cache"))


@pytest.fixture(scope="module")
def dat_bytes() -> bytes:
    return default_dat_path().read_bytes()


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> DlibFaceResNet:
    return load_dlib_resnet(cache_dir=tmp_path_factory.mktemp("identity-cache"))


# ---------------------------------------------------------------------------------------
# the .dat reader


def test_reader_recovers_every_parameter(dat_bytes: bytes) -> None:
    net = parse_dlib_net(dat_bytes)
    assert net.parameter_count == DLIB_PARAMETER_COUNT
    assert net.loss == "loss_metric_2"
    assert net.loss_distance_threshold == pytest.approx(SAME_PERSON_THRESHOLD)
    assert net.input_size == (150, 150)
    assert net.input_means == pytest.approx((122.782, 117.001, 104.298), abs=1e-4)
    # 130 wrappers: 108 layers with a payload, 22 tags/skips (one per block, three per down block).
    assert len(net.wrapper_versions) == 130 and len(net.layers) == 108
    kinds = [type(layer).__name__ for layer in net.layers]
    assert kinds.count("ConvLayer") == 29 and kinds.count("AddPrevLayer") == 14
    fc = net.layers[-1]
    assert fc.weight.shape == (256, 128) and fc.bias is None


def test_network_has_the_same_parameter_count() -> None:
    assert sum(p.numel() for p in DlibFaceResNet().parameters()) == DLIB_PARAMETER_COUNT


@pytest.mark.parametrize("keep", [0, 20, 1000, 12_345_678, -1])
def test_truncated_dat_raises_a_clear_error(dat_bytes: bytes, keep: int) -> None:
    data = dat_bytes[:keep]
    with pytest.raises(ModelFileError, match="not a readable dlib network file.*(ends inside|bad integer)"):
        parse_dlib_net(data, source="broken.dat")


def test_corrupt_dat_raises_a_clear_error(dat_bytes: bytes, tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="loss_metric_2"):
        parse_dlib_net(dat_bytes.replace(b"loss_metric_2", b"loss_metric_9", 1))
    with pytest.raises(ModelFileError, match="unsupported layer type 'xon_4'"):
        parse_dlib_net(dat_bytes.replace(b"con_4", b"xon_4", 1))
    with pytest.raises(ModelFileError, match="unexpected bytes after the last layer"):
        parse_dlib_net(dat_bytes + b"\x00")
    with pytest.raises(ModelFileError):
        parse_dlib_net(b"\x7f" * 64)
    # Through the loader too: a damaged .dat never produces (or caches) a network.
    broken = tmp_path / "broken.dat"
    broken.write_bytes(dat_bytes[: len(dat_bytes) // 2])
    with pytest.raises(ModelFileError, match=str(broken)):
        load_dlib_resnet(broken, cache_dir=tmp_path / "cache")
    assert not list((tmp_path / "cache").glob("*.pt"))
    with pytest.raises(ModelFileError, match="does not exist"):
        load_dlib_resnet(tmp_path / "missing.dat", cache_dir=tmp_path / "cache")


class _Writer:
    """dlib's serialisation, written out independently of the reader, for synthetic files."""

    def __init__(self) -> None:
        self.out = bytearray()

    def int(self, value: int) -> _Writer:
        magnitude = abs(value).to_bytes(8, "little").rstrip(b"\x00")
        self.out += bytes([len(magnitude) | (0x80 if value < 0 else 0)]) + magnitude
        return self

    def str(self, text: str) -> _Writer:
        self.int(len(text)).out += text.encode()
        return self

    def real(self, value: float) -> _Writer:
        mantissa, exponent = math.frexp(value)
        return self.int(int(mantissa * 2**53)).int(exponent - 53)

    def bool(self, value: bool) -> _Writer:
        self.out += b"1" if value else b"0"
        return self

    def tensor(self, values: np.ndarray, dims: tuple[int, int, int, int]) -> _Writer:
        self.int(2)
        for d in dims:
            self.int(d)
        self.out += struct.pack(f"<{values.size}f", *values.ravel())
        return self

    def alias(self, dims: tuple[int, int, int, int]) -> _Writer:
        self.int(1)
        for d in dims:
            self.int(d)
        return self


def test_reader_folds_stored_batch_norm() -> None:
    """Some copies store bn_con2 where affine_ belongs: fold as dlib does on load."""
    gamma, beta = np.array([2.0, 0.5], np.float32), np.array([1.0, -1.0], np.float32)
    mean, var, eps = np.array([0.25, 3.0], np.float32), np.array([4.0, 0.01], np.float32), 1e-4
    w = _Writer().int(1).str("loss_metric_2").real(0.04).real(0.6).int(3)
    w.str("input_rgb_image_sized").real(122.782).real(117.001).real(104.298).int(150).int(150)
    w.str("bn_con2").tensor(np.concatenate([gamma, beta]), (4, 1, 1, 1)).alias((1, 2, 1, 1)).alias((1, 2, 1, 1))
    empty = np.zeros(0, np.float32)
    w.tensor(empty, (0, 0, 0, 0)).tensor(empty, (0, 0, 0, 0))
    w.tensor(mean, (1, 2, 1, 1)).tensor(var, (1, 2, 1, 1)).int(100).int(100)
    w.real(1).real(0).real(1).real(1).real(eps)
    w.bool(True).bool(True).bool(False)
    for _ in range(3):
        w.tensor(empty, (0, 0, 0, 0))
    w.int(1)
    net = parse_dlib_net(bytes(w.out))
    (layer,) = net.layers
    assert isinstance(layer, AffineLayer) and layer.per_channel
    scale = gamma / np.sqrt(var + eps)
    np.testing.assert_allclose(layer.gamma, scale, rtol=1e-6)
    np.testing.assert_allclose(layer.beta, beta - scale * mean, rtol=1e-6)
    assert net.parameter_count == 4


# ---------------------------------------------------------------------------------------
# the network


def test_add_prev_pads_top_left_instead_of_cropping() -> None:
    a = torch.ones(1, 2, 3, 3)
    b = torch.full((1, 1, 4, 4), 10.0)
    out = add_padded(a, b)
    assert out.shape == (1, 2, 4, 4)
    assert out[0, 0, :3, :3].eq(11).all() and out[0, 0, 3].eq(10).all() and out[0, 0, :, 3].eq(10).all()
    assert out[0, 1, :3, :3].eq(1).all() and out[0, 1, 3].eq(0).all()


def test_feature_shapes_follow_dlib_padding() -> None:
    net = DlibFaceResNet().eval()
    with torch.no_grad():
        feats = net.features(torch.zeros(2, 3, 150, 150), FEATURE_LAYERS)
    shapes = [tuple(f.shape[1:]) for f in feats]
    # 3×3 conv vs 4×4 pooled shortcut at alevel1, 1×1 vs 2×2 at alevel0: padded, not cropped.
    assert shapes == [(32, 35, 35), (32, 35, 35), (64, 17, 17), (128, 8, 8), (256, 4, 4), (256, 2, 2), (128,)]
    with pytest.raises(ValueError, match="unknown feature layers"):
        net.features(torch.zeros(1, 3, 150, 150), ("conv9",))


def test_weights_cache_round_trips(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = load_dlib_resnet(cache_dir=tmp_path)
    (cached,) = tmp_path.glob("dlib_resnet_v1-*.pt")
    assert not any(p.requires_grad for p in first.parameters()) and not first.training

    def no_conversion(path: Path) -> DlibFaceResNet:
        raise AssertionError("the cache should have been used")

    monkeypatch.setattr(weights_module, "convert_dat", no_conversion)
    second = load_dlib_resnet(cache_dir=tmp_path)
    for (name, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items(), strict=True):
        assert torch.equal(a, b), name

    # An unreadable cache is rebuilt, not fatal.
    monkeypatch.undo()
    cached.write_bytes(b"not a torch file")
    third = load_dlib_resnet(cache_dir=tmp_path)
    assert torch.equal(third.fc.weight, first.fc.weight)
    assert torch.load(cached, weights_only=True)["format"].startswith("faceedit.")


def test_cache_dir_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(CACHE_ENV_VAR, str(tmp_path))
    assert identity_cache_dir() == tmp_path / "identity"
    assert identity_cache_dir(tmp_path / "x") == tmp_path / "x"


def test_identity_loss_gradients_reach_the_input(network: DlibFaceResNet) -> None:
    loss_fn = IdentityLoss(("alevel3", "alevel1", "embedding"), network=network)
    loss_fn.train()  # a parent's .train() must leave the frozen network alone
    assert not network.training
    torch.manual_seed(0)
    target = torch.rand(2, 3, 64, 64) * 2 - 1
    output = (target + 0.3 * torch.randn_like(target)).clamp(-1, 1).requires_grad_(True)
    loss = loss_fn(output, target)
    loss.backward()
    assert loss.item() > 0 and output.grad is not None
    assert torch.isfinite(output.grad).all() and output.grad.abs().sum() > 0
    assert all(p.grad is None for p in network.parameters())
    assert loss_fn(target, target).item() == 0.0


def test_crop_to_chip_maps_template_points_to_dlib_chip_points() -> None:
    size = 96
    # A crop whose pixels hold their own coordinates, scaled into [-1, 1].
    ys, xs = torch.meshgrid(torch.arange(size, dtype=torch.float64), torch.arange(size, dtype=torch.float64), indexing="ij")
    crop = torch.stack([xs, ys, xs]).unsqueeze(0) / size * 2 - 1
    chip = CropToChip().double()(crop)[0] / 127.5 - 1  # back to crop units
    fit = similarity_transform(TEMPLATE_5, DLIB_CHIP_POINTS_5)
    for t in TEMPLATE_5:
        cx, cy = np.rint(fit @ [*t, 1.0]).astype(int)  # the chip pixel nearest the point
        # Invert the fitted similarity at that pixel: the crop position it must read from.
        # faceedit's convention: template t sits at crop pixel t·S − 0.5 (alignment.template_points)
        expected = np.linalg.solve(fit[:, :2], np.array([cx, cy]) - fit[:, 2]) * size - 0.5
        got = (chip[:2, cy, cx].numpy() + 1) / 2 * size
        np.testing.assert_allclose(got, expected, atol=1e-6)


# ---------------------------------------------------------------------------------------
# real faces: equality with dlib


@dataclass(frozen=True)
class Face:
    name: str  # e.g. "london/neutral/001"
    person: str
    image: np.ndarray
    landmarks: np.ndarray  # 68×2
    dlib_descriptor: np.ndarray
    dlib_chip: np.ndarray


@pytest.fixture(scope="module")
def faces() -> list[Face]:
    if not DATA.is_dir():
        pytest.skip(f"shared photo data not found at {DATA}")
    import cv2
    import dlib
    import face_recognition_models as models

    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(models.pose_predictor_model_location())
    recognizer = dlib.face_recognition_model_v1(models.face_recognition_model_location())
    london = DATA / "london"
    ids = sorted({p.stem for p in (london / "neutral").glob("*.jpg")} & {p.stem for p in (london / "smiling").glob("*.jpg")})[:10]
    paths = [(london / kind / f"{i}.jpg", f"london/{kind}/{i}", f"london{i}") for kind in ("neutral", "smiling") for i in ids]
    paths += [(DATA / "lisa" / f"lisa{k}.jpg", f"lisa/{k}", "lisa") for k in range(1, 5)]
    result = []
    for path, name, person in paths:
        image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
        found = detector(image, 0) or detector(image, 1)
        assert found, f"dlib found no face in {path}"
        box = max(found, key=lambda r: r.area())
        shape = predictor(image, box)
        result.append(
            Face(
                name=name,
                person=person,
                image=image,
                landmarks=np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64),
                dlib_descriptor=np.array(recognizer.compute_face_descriptor(image, shape)),
                dlib_chip=dlib.get_face_chip(image, shape, size=150, padding=0.25),
            )
        )
    assert len(result) >= 20
    return result


@needs_data
def test_face_chip_equals_dlib(faces: list[Face]) -> None:
    for face in faces[:4]:
        np.testing.assert_array_equal(face_chip(face.image, face.landmarks), face.dlib_chip, err_msg=face.name)


@needs_data
def test_descriptors_match_dlib(faces: list[Face], network: DlibFaceResNet) -> None:
    ours = chip_descriptors(np.stack([f.dlib_chip for f in faces]), network=network)
    theirs = np.stack([f.dlib_descriptor for f in faces])
    assert np.abs(ours - theirs).max() < 1e-4
    for i, j in itertools.combinations(range(len(faces)), 2):
        assert abs(descriptor_distance(ours[i], ours[j]) - descriptor_distance(theirs[i], theirs[j])) < 1e-3
    # The one-call path (landmarks → chip → descriptor) agrees as well.
    np.testing.assert_allclose(face_descriptor(faces[0].image, faces[0].landmarks), theirs[0], atol=1e-4)


@needs_data
def test_same_person_close_different_people_apart(faces: list[Face], network: DlibFaceResNet) -> None:
    descriptors = chip_descriptors(np.stack([f.dlib_chip for f in faces]), network=network)
    same, different = [], []
    for (a, da), (b, db) in itertools.combinations(zip(faces, descriptors), 2):
        (same if a.person == b.person else different).append(descriptor_distance(da, db))
    # neutral/smiling pairs of the same Londoner, and lisa's four photos
    assert len(same) == 10 + 6 and max(same) < SAME_PERSON_THRESHOLD
    assert np.mean(np.array(different) > SAME_PERSON_THRESHOLD) > 0.9


@needs_data
def test_chip_points_constant_matches_dlib_geometry(faces: list[Face]) -> None:
    """Re-measure where faceedit's five points land in dlib chips (see DLIB_CHIP_POINTS_5)."""
    import dlib

    measured = []
    for face in faces[:20]:
        h, w = face.image.shape[:2]
        ys, xs = np.mgrid[0:h, 0:w].astype(np.float64)
        rect = dlib.rectangle(0, 0, w - 1, h - 1)
        shape = dlib.full_object_detection(rect, [dlib.point(int(x), int(y)) for x, y in face.landmarks])
        # Chips of the coordinate images give dlib's chip→image map (affine) exactly.
        chip_x, chip_y = (dlib.get_face_chip(c, shape, size=150, padding=0.25) for c in (xs, ys))
        v, u = np.mgrid[10:140, 10:140]
        design = np.stack([u.ravel(), v.ravel(), np.ones(u.size)], axis=1)
        coeffs, *_ = np.linalg.lstsq(design, np.stack([chip_x[10:140, 10:140].ravel(), chip_y[10:140, 10:140].ravel()], 1), rcond=None)
        to_image = np.vstack([coeffs.T, [0, 0, 1]])
        pts = five_points(face.landmarks)
        measured.append((np.linalg.inv(to_image) @ np.c_[pts, np.ones(5)].T)[:2].T)
    np.testing.assert_allclose(np.mean(measured, axis=0), DLIB_CHIP_POINTS_5, atol=2.5)


@needs_data
def test_aligned_crop_path_agrees_with_dlib(faces: list[Face], network: DlibFaceResNet) -> None:
    """faceedit crop → fixed warp → network is close to dlib's own descriptor of the face."""
    size = 128
    london = [f for f in faces if f.person.startswith("london")]
    crops = []
    for face in london:
        crop = align_face(face.image, face.landmarks, size).crop  # exactly the app's alignment
        crops.append(torch.from_numpy(crop).permute(2, 0, 1).float() / 127.5 - 1)
    features = IdentityFeatures(("embedding",), network=network)
    with torch.no_grad():
        (embeddings,) = features(torch.stack(crops))
    errors = [descriptor_distance(e, f.dlib_descriptor) for e, f in zip(embeddings.numpy(), london)]
    assert max(errors) < 0.3, errors
    # The loss ranks pairs like dlib: a person's neutral/smiling pair is closer than strangers'.
    loss = IdentityLoss(("embedding",), network=network)
    batch = torch.stack(crops)
    neutral, smiling = batch[:10], batch[10:]
    with torch.no_grad():
        same = loss(neutral, smiling).item()
        different = loss(neutral, smiling.roll(1, dims=0)).item()
    assert same < 0.5 * different
