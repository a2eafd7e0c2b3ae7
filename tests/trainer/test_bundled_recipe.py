"""The bundled model's additions to the paper's recipe: pairs, balanced batches, D_expr, the frozen recogniser."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from conftest import shared_file
from faceedit.core.models.exprgan import Generator, IdentityCodeDiscriminator, ImageDiscriminator, ExprGANConfig
from trainer.config import PRESETS, resolve_config
from trainer.data import FaceSet, batch_at, load_split, partner_indices, sample_faces
from trainer.manifest import LABELS, FaceRecord
from trainer.families.exprgan import ExpressionFromIdentity, Networks, expression_class, generator_pass
from trainer.train import train_run


def _record(label: str, subject: str) -> FaceRecord:
    return FaceRecord(f"faces/{subject}{label}.png", "", label, 1.0, subject, "train", [], [])


def _faces(records: list[FaceRecord], size: int = 16) -> FaceSet:
    n = len(records)
    images = torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 1, size, size).contiguous()
    labels = torch.tensor([LABELS.index(r.label) for r in records])
    intensities = torch.zeros(n, 6)
    return FaceSet(images, labels, intensities, tuple(records))


def test_partners_are_the_same_subject_with_another_label() -> None:
    records = [_record("neutral", "a"), _record("happiness", "a"), _record("neutral", "b"), _record("anger", ""),
               _record("fear", "")]
    assert partner_indices(tuple(records)).tolist() == [1, 0, -1, -1, -1]


def test_balanced_sampling_and_paired_share() -> None:
    records = [_record("neutral", "") for _ in range(90)] + [_record("disgust", "") for _ in range(5)]
    records += [_record("neutral", "p"), _record("happiness", "p")]
    faces = _faces(records)
    generator = torch.Generator().manual_seed(0)
    index = sample_faces(faces, 4000, generator, balanced=True)
    share = (faces.labels[index] == LABELS.index("disgust")).float().mean().item()
    assert 0.25 < share < 0.42  # one label in three, although 5 of 97 faces
    index = sample_faces(faces, 40, generator, paired_fraction=0.25)
    assert (faces.partners[index] >= 0).sum() >= 10


def test_paired_batches_flip_partners_alike() -> None:
    records = [_record("neutral", "p"), _record("happiness", "p")]
    faces = _faces(records)
    faces.images[:] = 200
    faces.images[:, :, :, :8] = 0  # left half dark, so a flip shows
    batch = batch_at(faces, 3, batch_size=16, seed=1, z_dim=4, mix_probability=0.0, flips=True, paired_fraction=1.0)
    assert batch.paired.all()
    left_dark = batch.images[:, 0, 0, 0] < batch.images[:, 0, 0, -1]
    assert torch.equal(left_dark, batch.partner_images[:, 0, 0, 0] < batch.partner_images[:, 0, 0, -1])
    assert not left_dark.all() and left_dark.any()


def test_the_edit_loss_does_not_train_the_recognition_head() -> None:
    """Only real faces teach the recogniser; the edits' gradient must not reach its weights."""
    torch.manual_seed(0)
    config = ExprGANConfig(image_size=16, width=0.125, image_channels=1)
    nets = Networks(Generator(config), ImageDiscriminator(config), IdentityCodeDiscriminator(config), ExpressionFromIdentity(config))
    stage = PRESETS["bundled"].stages[0]
    only_edit = replace(stage, weights=replace(stage.weights, pixel=0.0, recognition=0.0, paired=0.0, adv_expr=0.0, tv=0.0))
    faces = _faces([_record("neutral", ""), _record("anger", "")])
    batch = batch_at(faces, 0, batch_size=4, seed=0, z_dim=config.z_dim, mix_probability=0.0, flips=False)
    g = generator_pass(nets, batch, only_edit, None)
    assert "G/recognition_edit" in g.losses and "G/recognition" not in g.losses  # pixel is logged at weight 0
    g.total.backward()
    head = nets.generator.encoder.recognise[-1].weight
    assert head.grad is None or head.grad.abs().sum() == 0
    assert nets.generator.decoder.fc.weight.grad.abs().sum() > 0


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    shared_file("london/neutral/001.jpg")
    from trainer_fixtures import build_prepared

    return build_prepared(tmp_path_factory.mktemp("prepared"), size=64)


def test_bundled_preset_trains_resumes_and_reports_its_losses(prepared: Path, tmp_path: Path) -> None:
    bundled = PRESETS["bundled"]
    assert [s.name for s in bundled.stages] == ["reconstruction"] and bundled.model.image_channels == 1
    config = replace(resolve_config("bundled", max_steps=4), model=ExprGANConfig(image_size=32, width=0.125, image_channels=1), batch_size=4,
                     log_every=1, sample_every=2, checkpoint_every=2)
    assert load_split(prepared, "train", 1, 32).images.shape[-1] == 32  # 64-px crops, downscaled
    result = train_run(prepared, config, runs=tmp_path / "runs", device="cpu", stop_at=2)
    resumed = train_run(None, config, resume=result.run, device="cpu")
    assert resumed.status == "finished" and resumed.steps == 4
    for key in ("G/paired", "G/adv_expr", "D/expr", "G/recognition_edit", "G/recognition"):
        assert key in resumed.last_losses and math.isfinite(resumed.last_losses[key]), key


def test_the_image_discriminator_is_told_the_class_not_the_intensity() -> None:
    """Real faces are labelled at 1; edits at 0.3 must not give themselves away by their label."""
    targets = torch.tensor([[0.0, 0.0, 0.0, 0.3, 0.0, 0.0], [0.5, 0.25, 0, 0, 0, 0], [0.0] * 6, [0, 0, 0, 0, 0, 1.0]])
    assert expression_class(targets).tolist() == [[0, 0, 0, 1, 0, 0], [1, 0.5, 0, 0, 0, 0], [0] * 6, [0, 0, 0, 0, 0, 1]]
