"""The CDAAE family: its config, the contract (zero change at the recognised intensities), the difference path, the file."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from faceedit.core.models.cdaae import CDAAE, CDAAE_FAMILY, CDAAEConfig, CDAAEReading, FeatureDifference
from faceedit.core.models.contract import FaceModel
from faceedit.core.models.families import FAMILIES
from faceedit.core.models.file import load_model, read_model_info, save_model

SMALL = CDAAEConfig(image_size=32, width=0.125)


def test_config_round_trips_and_refuses_bad_values() -> None:
    config = CDAAEConfig(image_size=64, width=0.375, image_channels=1, skip_levels=1, geometry=True, mouth_interior=True)
    assert CDAAEConfig.from_dict(config.to_dict()) == config
    assert CDAAEConfig.from_dict({}) == CDAAEConfig()
    with pytest.raises(ValueError, match="unknown model settings: colour"):
        CDAAEConfig.from_dict({**config.to_dict(), "colour": True})
    for bad, message in (
        (dict(image_size=48), "power of two"), (dict(image_size=8), "power of two"), (dict(width=0.0), "width"),
        (dict(image_channels=2), "image_channels"), (dict(z_dim=0), "positive"),
        (dict(skip_levels=0), "skip_levels"), (dict(image_size=16, skip_levels=2), "skip_levels"),
        (dict(appearance="decoder"), "appearance"), (dict(appearance="mean_ratio"), "needs geometry"),
        (dict(mouth_interior=True), "needs geometry"),
    ):
        with pytest.raises(ValueError, match=message):
            CDAAEConfig(**bad)


def test_the_encoder_carries_features_at_the_decoders_resolution_and_width() -> None:
    config = CDAAEConfig(image_size=64, width=0.5, skip_levels=3)
    encoding = CDAAE(config).encode(torch.zeros(2, 3, 64, 64))
    assert [tuple(f.shape[1:]) for f in encoding.features] == [(32, 32, 32), (64, 16, 16), (128, 8, 8)]
    assert encoding.z.shape == (2, 50) and encoding.intensities.shape == (2, 6)
    assert config.decoder_channels() == [256, 128, 64, 32, 16]


def test_read_and_render_meet_the_contract() -> None:
    torch.manual_seed(0)
    network = CDAAE(SMALL).eval()
    assert isinstance(network, FaceModel)
    with torch.inference_mode():
        reading = network.read(torch.rand(2, 3, 32, 32) * 2 - 1)
        assert isinstance(reading, CDAAEReading) and reading.recognised.shape == (2, 6)
        assert reading.reconstruction.shape == (2, 3, 32, 32) and reading.reconstruction.abs().max() <= 1
        still = network.render(reading, reading.recognised)
        moved = network.render(reading, torch.tensor([[0, 0, 0, 1.0, 0, 0], [0.5, 0, 0, 0, 0, 0.5]]))
    assert still.image_change is not None and not still.image_change.any()  # exactly zero
    assert moved.image_change is not None and moved.image_change.shape == (2, 3, 32, 32)
    assert moved.image_change[0].abs().max() > 0 and moved.image_change[1].abs().max() > 0
    assert moved.displacement is None and moved.overlay is None


def test_the_difference_path_is_zero_without_a_difference_and_linear_in_it() -> None:
    torch.manual_seed(1)
    delta = FeatureDifference(8, 6)
    features = torch.rand(3, 8, 16, 16)
    a, b = torch.rand(3, 6) - 0.5, torch.rand(3, 6) - 0.5
    assert not delta(features, torch.zeros(3, 6)).any()
    # Expressions combine (sum) and intensities interpolate (scale).
    assert torch.allclose(delta(features, a + b), delta(features, a) + delta(features, b), atol=1e-5)
    assert torch.allclose(delta(features, 0.3 * a), 0.3 * delta(features, a), atol=1e-5)
    # …so the decoder sees the encoder's own features when the target is the source.
    network = CDAAE(SMALL)
    encoding = network.encode(torch.rand(1, 3, 32, 32))
    carried = network.decoder.carried(encoding.features, torch.zeros(1, 6))
    assert all(torch.equal(c, f) for c, f in zip(carried, encoding.features))


def test_a_geometry_model_warps_with_landmarks_and_stays_still_at_the_recognised_intensities() -> None:
    config = CDAAEConfig(image_size=32, width=0.125, image_channels=1, geometry=True)
    network = CDAAE(config).eval()
    assert network.landmark_shifts.shape == (6, 68, 2)
    with torch.no_grad():
        network.landmark_shifts[3, 48:68, 1] = -0.02  # happiness lifts the mouth
        network.landmark_reference.copy_(torch.rand(68, 2) * 0.5 + 0.25)
    landmarks = network.landmark_reference[None] * 32
    with torch.inference_mode():
        reading = network.read(torch.zeros(1, 1, 32, 32), landmarks)
        still = network.render(reading, reading.recognised)
        target = reading.recognised.clone()
        target[0, 3] = 1.0
        moved = network.render(reading, target)
    assert still.displacement is not None and not still.displacement.any() and not still.image_change.any()
    assert moved.displacement is not None and moved.displacement.abs().max() > 0


def test_the_family_is_registered_and_its_model_file_loads(tmp_path: Path) -> None:
    assert FAMILIES["cdaae"] is CDAAE_FAMILY and "Zhou & Shi" in CDAAE_FAMILY.paper
    assert CDAAE_FAMILY.describe(CDAAEConfig(image_size=64, width=0.375, image_channels=1)).startswith(
        "CDAAE 64×64 luminance, width ×0.375"
    )
    torch.manual_seed(2)
    network = CDAAE(SMALL)
    path = tmp_path / "cdaae.pt"
    save_model(path, network)
    info = read_model_info(path)
    assert info.family is CDAAE_FAMILY and info.config == SMALL
    loaded = load_model(path)
    images = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.inference_mode():
        assert torch.equal(loaded.network.read(images).base, network.eval().read(images).base)
