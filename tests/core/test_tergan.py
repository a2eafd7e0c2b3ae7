"""The TER-GAN family: config, the contract (read/render), transfer, the registry and the model file."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from faceedit.core.models.contract import FaceModel
from faceedit.core.models.families import FAMILIES, family_named
from faceedit.core.models.file import load_model, read_model_info, save_model
from faceedit.core.models.tergan import TERGAN, TERGAN_FAMILY, TERGANConfig, TERGANReading

SMALL = TERGANConfig(image_size=32, width=0.125)


def test_config_round_trips_and_refuses_bad_values() -> None:
    config = TERGANConfig(image_size=64, image_channels=1, width=0.5, identity_dim=32, expression_dim=8)
    assert TERGANConfig.from_dict(config.to_dict()) == config
    assert TERGANConfig.from_dict({}) == TERGANConfig()  # defaults: 128 px RGB, the abstract's experiments
    with pytest.raises(ValueError, match="unknown model settings: z_dim"):
        TERGANConfig.from_dict({**config.to_dict(), "z_dim": 50})
    for bad, message in (
        ({"image_size": 48}, "power of two"), ({"image_size": 8}, "power of two"), ({"width": 0.0}, "width"),
        ({"width": 5.0}, "width"), ({"image_channels": 2}, "image_channels"), ({"expression_dim": 5}, "at least num_expressions"), ({"identity_dim": 0}, "positive"),
        ({"appearance": "decoder"}, "appearance"), ({"appearance": "mean_ratio"}, "needs geometry"),
        ({"mouth_interior": True}, "needs geometry"),
    ):
        with pytest.raises(ValueError, match=message):
            TERGANConfig(**bad)
    assert TERGANConfig(geometry=True, appearance="mean_ratio", mouth_interior=True).mouth_interior


def test_read_render_shapes_and_no_change_at_the_recognised_intensities() -> None:
    torch.manual_seed(0)
    network = TERGAN(SMALL).eval()
    assert isinstance(network, FaceModel)
    images = torch.rand(3, 3, 32, 32) * 2 - 1
    with torch.inference_mode():
        reading = network.read(images)
        assert isinstance(reading, TERGANReading)
        assert reading.recognised.shape == (3, 6) and ((reading.recognised >= 0) & (reading.recognised <= 1)).all()
        assert reading.identity.shape == (3, SMALL.identity_dim) and reading.reconstruction.shape == (3, 3, 32, 32)
        # The recognition is the expression encoder's reading of the face.
        assert torch.equal(reading.recognised, network.expression_encoder(images).intensities)
        # …and the first six entries of the code the decoder is given; the map keeps them.
        assert torch.equal(network.expression_encoder(images).code[:, :6], reading.recognised)
        assert torch.equal(network.code(reading.recognised)[:, :6], reading.recognised)
        still = network.render(reading, reading.recognised)
        moved = network.render(reading, torch.tensor([[0, 0, 0, 1.0, 0, 0]] * 3))
    assert still.image_change is not None and not still.image_change.any()  # exactly zero, bit for bit
    assert moved.image_change is not None and moved.image_change.shape == (3, 3, 32, 32) and moved.image_change.abs().max() > 0
    assert moved.displacement is None and moved.overlay is None


def test_transfer_takes_identity_from_one_face_and_expression_from_another() -> None:
    torch.manual_seed(0)
    network = TERGAN(SMALL).eval()
    a, b = torch.rand(2, 3, 32, 32) * 2 - 1, torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.inference_mode():
        moved = network.transfer(a, b)
        expected = network.decoder(network.identity_encoder(a), network.expression_encoder(b).code)
        # Editing needs no reference: the intensity map gives the code.
        assert network.code(torch.zeros(2, 6)).shape == (2, SMALL.expression_dim)
    assert moved.shape == (2, 3, 32, 32) and torch.equal(moved, expected)


def test_geometry_model_carries_the_shared_shape_edit() -> None:
    config = TERGANConfig(image_size=32, width=0.125, image_channels=1, geometry=True)
    network = TERGAN(config).eval()
    assert network.landmark_shifts.shape == (6, 68, 2) and network.landmark_reference.shape == (68, 2)
    with torch.inference_mode():
        network.landmark_reference.copy_(torch.rand(68, 2) * 0.5 + 0.25)
        network.landmark_shifts[3].fill_(0.01)
        landmarks = network.landmark_reference[None] * 32
        reading = network.read(torch.zeros(1, 1, 32, 32), landmarks)
        edit = network.render(reading, (reading.recognised + 0.5).clamp(max=1.0))
    assert edit.displacement is not None and edit.displacement.shape == (1, 2, 32, 32)
    assert "geometry + network appearance" in TERGAN_FAMILY.describe(config)


def test_registered_and_saved_as_its_family(tmp_path: Path) -> None:
    assert family_named("tergan") is TERGAN_FAMILY and FAMILIES["tergan"].build is TERGAN
    assert "Ali" in TERGAN_FAMILY.paper and "All-In-One" in TERGAN_FAMILY.paper
    path = tmp_path / "tergan.pt"
    torch.manual_seed(0)
    network = TERGAN(SMALL)
    save_model(path, network)  # the family is found from the network's class
    info = read_model_info(path)
    assert info.family is TERGAN_FAMILY and info.config == SMALL
    assert "TER-GAN 32×32 RGB" in info.describe()
    loaded = load_model(path, "cpu", "fp32")
    assert isinstance(loaded.network, TERGAN)
    for name, tensor in network.state_dict().items():
        assert torch.equal(tensor, loaded.network.state_dict()[name]), name
