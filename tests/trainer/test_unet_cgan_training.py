"""The U-Net cGAN family (issue 14): config, read/render and the zero edit at the start (core); the batch rows the
objective pairs, a smoke run, export, editing a photo (trainer; exact resume: test_families.py)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import shared_file
from faceedit.core.models.contract import FaceModel
from faceedit.core.models.families import FAMILIES, family_named
from faceedit.core.models.unet_cgan import UNET_CGAN, Generator, UNetCGANConfig, UNetCGANReading
from trainer.config import resolve_config
from trainer.data import Batch
from trainer.families import objective_for
from trainer.families.unet_cgan import OBJECTIVE, condition_rows, other_rows, target_labels, triplet
from trainer.train import train_run


# --- the model (faceedit/core/models/unet_cgan.py) ---------------------------------------


def test_config_round_trips_and_refuses_bad_values() -> None:
    config = UNetCGANConfig(image_size=64, image_channels=1, width=0.25)
    assert UNetCGANConfig.from_dict(config.to_dict()) == config
    assert config.levels == 4 and config.encoder_channels() == [16, 32, 64, 128]
    with pytest.raises(ValueError, match="unknown model settings: z_dim"):
        UNetCGANConfig.from_dict({**config.to_dict(), "z_dim": 50})
    for bad in ({"image_size": 48}, {"image_size": 8}, {"width": 0.0}, {"image_channels": 2},
                {"num_expressions": 0}, {"appearance": "decoder"}, {"appearance": "mean_ratio"},
                {"mouth_interior": True}):
        with pytest.raises(ValueError):
            UNetCGANConfig(**bad)
    assert UNetCGANConfig(geometry=True, appearance="mean_ratio", mouth_interior=True).mouth_interior


def test_registered_with_its_paper() -> None:
    assert family_named("unet-cgan") is UNET_CGAN and FAMILIES["unet-cgan"].build is Generator
    assert "U-Net Conditional GANs" in UNET_CGAN.paper and "ICMR 2018" in UNET_CGAN.paper
    assert UNET_CGAN.describe(UNetCGANConfig(image_size=64, image_channels=1, width=0.25)) == \
        "U-Net cGAN 64×64 luminance, width ×0.25"


@pytest.mark.parametrize("channels", [1, 3])
def test_read_render_shapes_and_exactly_no_change_at_the_recognised_intensities(channels: int) -> None:
    torch.manual_seed(0)
    network = Generator(UNetCGANConfig(image_size=32, image_channels=channels, width=0.125)).eval()
    assert isinstance(network, FaceModel)
    images = torch.rand(2, channels, 32, 32) * 2 - 1
    with torch.inference_mode():
        reading = network.read(images)
        assert isinstance(reading, UNetCGANReading) and reading.recognised.shape == (2, 6)
        assert ((reading.recognised > 0) & (reading.recognised < 1)).all()
        assert reading.reconstruction.shape == (2, channels, 32, 32)
        # every level's skip is cached: the input face, then 16, 8, 4 px
        assert [s.shape[-1] for s in reading.skips] == [32, 16, 8, 4] and torch.equal(reading.skips[0], images)
        still = network.render(reading, reading.recognised)
        moved = network.render(reading, torch.tensor([[0, 0, 0, 1.0, 0, 0], [0.5, 0, 0, 0, 0, 0.5]]))
    assert still.image_change is not None and not still.image_change.any()
    assert moved.image_change is not None and moved.image_change.shape == (2, channels, 32, 32)
    assert moved.image_change.abs().max() > 0 and moved.displacement is None


def test_render_runs_the_decoder_only() -> None:
    network = Generator(UNetCGANConfig(image_size=32, width=0.125)).eval()
    with torch.inference_mode():
        reading = network.read(torch.zeros(1, 3, 32, 32))
        calls = []
        network.encoder.register_forward_hook(lambda *args: calls.append(1))
        network.render(reading, torch.ones(1, 6))
    assert not calls


def test_geometry_model_warps_with_landmarks() -> None:
    config = UNetCGANConfig(image_size=32, width=0.125, geometry=True)
    network = Generator(config).eval()
    assert network.landmark_shifts.shape == (6, 68, 2)
    with torch.inference_mode():
        reading = network.read(torch.zeros(1, 3, 32, 32))  # no landmarks: appearance only
        assert reading.shape is None and network.render(reading, torch.ones(1, 6)).displacement is None


# --- the objective (trainer/families/unet_cgan.py) ----------------------------------------


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    shared_file("london/neutral/001.jpg")
    from trainer_fixtures import build_prepared

    return build_prepared(tmp_path_factory.mktemp("prepared"))


def _batch(labels: list[int], faces: torch.Tensor, partners: torch.Tensor) -> Batch:
    count = len(labels)
    return Batch(faces, torch.zeros(count, 6), torch.zeros(count, 6), torch.zeros(count, 1), torch.tensor(labels),
                 torch.ones(count, dtype=torch.bool), partners, torch.zeros(count, 6))


def test_condition_images_are_other_rows_of_the_wanted_label() -> None:
    faces = torch.arange(5.0)[:, None, None, None].expand(5, 1, 2, 2).clone()
    partners = faces.roll(1, dims=0)  # row i's partner has row i−1's pixels
    partners[0] = 9.0  # …except row 0's, which is nowhere in the batch
    batch = _batch([3, 3, 0, 3, 6], faces, partners)
    index, found = condition_rows(batch, torch.tensor([3, 3, 0, 6, 3]))
    # row 0 → next row labelled 3 is 1; row 1 → 3 (row 0 is its partner's pixels);
    # row 2 wants 0: only itself → not found; row 3 wants 6 → 4 (its partner row 2 is not 6 anyway);
    # row 4 wants 3: rows 0, 1 (cyclic order 0, 1, 2, 3; row 3 is its partner) → 0
    assert index.tolist() == [1, 3, 2, 4, 0] and found.tolist() == [True, True, False, True, True]
    negatives, found = other_rows(batch)
    assert negatives.tolist() == [1, 2, 3, 4, 0] and found.all()  # j ≠ i and not i − 1 (the partner)
    assert target_labels(torch.tensor([[0, 0.2, 0, 0.7, 0, 0]])).tolist() == [3]
    same = torch.tensor([[1.0, 0.0]])
    # no row counts: 0, still in the graph
    assert triplet(same, same, same, torch.tensor([False])) == 0
    assert triplet(same, same, same, torch.tensor([True])) == pytest.approx(0.2)


def test_registered_and_the_presets_are_the_comparisons() -> None:
    assert objective_for("unet-cgan") is OBJECTIVE and OBJECTIVE.default_preset == "cpu"
    cpu = OBJECTIVE.presets["cpu"]
    assert (cpu.family, cpu.total_steps, cpu.batch_size, cpu.balanced, cpu.paired_fraction) == ("unet-cgan", 1000, 32, True, 0.25)
    assert (cpu.model.image_size, cpu.model.image_channels, cpu.checkpoint_every, cpu.sample_every) == (64, 1, 250, 250)
    gpu = OBJECTIVE.presets["gpu"]
    assert (gpu.model.image_size, gpu.model.image_channels) == (128, 3) and gpu.total_steps >= 10_000
    w = cpu.stages[0].weights
    assert w.identity == w.identity_edit == w.q == w.adv_z == 0 and w.adv_img > 0 and w.unet_cgan_triplet > 0


def test_smoke_run_exports_loads_and_edits_a_photo(prepared: Path, tmp_path: Path, london_neutral: Path) -> None:
    config = resolve_config("smoke", family="unet-cgan")
    result = train_run(prepared, config, runs=tmp_path / "runs", device="cpu")
    assert result.status == "finished" and result.steps == config.total_steps
    lines = [json.loads(line) for line in (result.run / "progress.jsonl").read_text().splitlines()]
    losses = lines[-1]["losses"]
    for key in ("G/pixel", "G/paired", "G/recognition", "G/recognition_edit", "G/adv_img", "G/unet_cgan_triplet",
                "D/img", "D/unet_cgan_triplet"):
        assert key in losses and math.isfinite(losses[key]), key
    assert (result.run / "samples" / "latest.png").exists()

    from faceedit.core.editor import ExpressionEditor
    from faceedit.core.expressions import ExpressionTargets
    from faceedit.core.faces import face_detector
    from faceedit.core.imageio import load_photo
    from faceedit.core.models.file import load_model, read_model_info
    from trainer.export import export_run

    model_path = export_run(result.run, tmp_path / "unet.pt")
    assert read_model_info(model_path).family.name == "unet-cgan"
    model = load_model(model_path)  # weights_only=True inside
    pixels = load_photo(london_neutral).pixels
    editor = ExpressionEditor(model)
    face = editor.encode(pixels, face_detector().detect(pixels)[0])
    assert face.recognised.shape == (6,)
    happy = editor.render(pixels, [face], ExpressionTargets.from_mapping({"happiness": 1.0}))
    assert happy.shape == pixels.shape and not np.array_equal(happy, pixels)
    assert np.array_equal(editor.render(pixels, [face], ExpressionTargets()), pixels)
