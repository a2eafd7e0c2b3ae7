"""The model-family contract: typed edits, the pixel conventions, the family in the model file."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from faceedit.core.compositing import PixelEdit, apply_edit
from faceedit.core.errors import ModelFileError
from faceedit.core.models.contract import Edit, FaceModel
from faceedit.core.models.exprgan import ExprGANConfig, ExprGANReading, Generator
from faceedit.core.models.families import FAMILIES, family_named
from faceedit.core.models.file import FORMAT_VERSION, load_model, read_model_info, save_model
from faceedit.core.models.pixels import PixelFormat, change_to_pixels, crop_to_tensor, model_to_uint8


def test_exprgan_implements_the_contract_and_renders_nothing_at_the_recognised_intensities() -> None:
    torch.manual_seed(0)
    network = Generator(ExprGANConfig(image_size=32, width=0.125)).eval()
    assert isinstance(network, FaceModel)
    with torch.inference_mode():
        reading = network.read(torch.rand(2, 3, 32, 32) * 2 - 1)
        assert isinstance(reading, ExprGANReading) and reading.recognised.shape == (2, 6)
        still = network.render(reading, reading.recognised)
        moved = network.render(reading, torch.tensor([[0, 0, 0, 1.0, 0, 0]] * 2))
    assert still.image_change is not None and not still.image_change.any()
    assert moved.image_change is not None and moved.image_change.abs().max() > 0
    assert moved.displacement is None and moved.mask is None and not moved.is_empty
    assert Edit().is_empty


def test_pixel_conventions_round_trip() -> None:
    crop = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    rgb = crop_to_tensor(crop, 3)
    assert rgb.shape == (1, 3, 16, 16) and rgb.min() >= -1 and rgb.max() <= 1
    assert np.array_equal(model_to_uint8(rgb)[0], crop)
    luma = crop_to_tensor(crop, 1)
    expected = crop.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    assert np.abs(model_to_uint8(luma)[0, :, :, 0] - expected).max() <= 0.5 + 1e-3
    assert change_to_pixels(torch.full((1, 1, 4, 4), 2 / 255)).max() == pytest.approx(1.0)
    assert PixelFormat.from_dict({"range": [-1, 1], "channels": "luma"}).image_channels == 1
    with pytest.raises(ValueError, match="range"):
        PixelFormat.from_dict({"range": [0, 1], "channels": "rgb"})


def test_model_file_names_its_family_and_checks_its_pixel_convention(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    save_model(path, Generator(ExprGANConfig(image_size=32, width=0.125)))
    info = read_model_info(path)
    assert info.family is FAMILIES["exprgan"] and info.pixels == PixelFormat("rgb")
    assert "ExprGAN 32×32 RGB" in info.describe()
    payload = torch.load(path, weights_only=True)
    assert payload["format_version"] == FORMAT_VERSION and payload["family"] == "exprgan"

    assert "digest" in payload
    payload = {k: v for k, v in payload.items() if k != "digest"}  # the variants below are hand-made: unverifiable
    # A version-1 file (no family field) is an ExprGAN model.
    old = dict(payload, format_version=1)
    del old["family"]
    torch.save(old, tmp_path / "v1.pt")
    assert load_model(tmp_path / "v1.pt").info.family.name == "exprgan"

    torch.save(dict(payload, family="stylegan9"), tmp_path / "alien.pt")
    with pytest.raises(ModelFileError, match="family this faceedit does not have"):
        read_model_info(tmp_path / "alien.pt")
    torch.save(dict(payload, normalisation={"range": [0, 1], "channels": "rgb"}), tmp_path / "range.pt")
    with pytest.raises(ModelFileError, match="range"):
        read_model_info(tmp_path / "range.pt")
    torch.save(dict(payload, normalisation={"range": [-1, 1], "channels": "luma"}), tmp_path / "luma.pt")
    with pytest.raises(ModelFileError, match="luma pixels but its network takes 3"):
        read_model_info(tmp_path / "luma.pt")
    with pytest.raises(KeyError, match="exprgan"):
        family_named("nope")


def test_displacement_edit_moves_pixels_inside_the_face_only() -> None:
    """A constant backward displacement of +2 crop pixels in x, at crop scale 2: the photo shifts by 4."""
    pixels = np.zeros((60, 60, 3), np.uint8)
    pixels[:, :, 0] = np.arange(60, dtype=np.uint8)[None, :] * 4  # a horizontal ramp
    original = pixels.copy()
    displacement = np.zeros((20, 20, 2), np.float32)
    displacement[5:15, 5:15, 0] = 2.0
    to_photo = np.array([[2.0, 0, 10], [0, 2.0, 10]])  # crop (20 px) → photo rows/cols 10…50
    apply_edit(pixels, PixelEdit(displacement=displacement), to_photo)
    # Well inside the displaced square, each pixel takes the value 4 photo pixels to its right.
    assert pixels[30, 30, 0] == original[30, 34, 0]
    assert np.array_equal(pixels[:12], original[:12])  # outside: untouched, bit for bit
    assert np.array_equal(pixels[:, :12], original[:, :12])
    # Inside the resampled rectangle, where the displacement is 0, values are exact too.
    moved = np.zeros((60, 60), bool)
    moved[18:42, 18:42] = True  # the square (crop 5…15 → photo 20…40) and its bilinear rim
    assert np.array_equal(pixels[~moved], original[~moved])
    rng = np.random.default_rng(0)
    textured = rng.integers(0, 256, (60, 60, 3), dtype=np.uint8)
    for interpolation_size in (1, 10**9):  # Lanczos and bicubic both keep unmoved pixels exactly
        import faceedit.core.compositing as compositing

        old_limit, compositing.LANCZOS_MAX_PIXELS = compositing.LANCZOS_MAX_PIXELS, interpolation_size
        try:
            edited = textured.copy()
            apply_edit(edited, PixelEdit(displacement=displacement), to_photo)
        finally:
            compositing.LANCZOS_MAX_PIXELS = old_limit
        assert np.array_equal(edited[~moved], textured[~moved]) and not np.array_equal(edited, textured)
