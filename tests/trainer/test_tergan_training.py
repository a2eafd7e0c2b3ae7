"""TER-GAN's objective: its tables and presets, a smoke run that exports and edits a photo (exact resume: test_families.py)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from conftest import shared_file
from faceedit.core.models.tergan import TERGAN, TERGANConfig
from trainer.config import resolve_config
from trainer.families import objective_for
from trainer.families.tergan import GENERATOR_PARTS
from trainer.train import train_run

EXPRGAN_ONLY = ("identity", "identity_edit", "q", "adv_z", "tv", "recognition_edit", "paired", "adv_expr")


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    shared_file("london/neutral/001.jpg")
    from trainer_fixtures import build_prepared

    return build_prepared(tmp_path_factory.mktemp("prepared"))


def test_the_table_and_the_presets() -> None:
    objective = objective_for("tergan")
    assert [spec.name for spec in objective.networks] == ["generator", "d_img"]
    assert objective.parts == (*GENERATOR_PARTS, "d_img")
    assert set(objective.presets) == {"cpu", "gpu", "smoke"} and objective.default_preset == "cpu"
    cpu = resolve_config(None, family="tergan")
    assert cpu.preset == "cpu" and cpu.family == "tergan" and isinstance(cpu.model, TERGANConfig)
    assert (cpu.model.image_size, cpu.model.image_channels) == (64, 1)
    assert (cpu.total_steps, cpu.batch_size, cpu.balanced, cpu.paired_fraction) == (1_000, 32, True, 0.25)
    assert (cpu.checkpoint_every, cpu.sample_every) == (250, 250)
    gpu = objective.presets["gpu"]
    assert (gpu.model.image_size, gpu.model.image_channels) == (128, 3) and gpu.total_steps >= 10_000
    for preset in objective.presets.values():
        for stage in preset.stages:
            # ExprGAN's own terms are off (and the dlib identity network is never loaded).
            assert all(getattr(stage.weights, name) == 0 for name in EXPRGAN_ONLY), stage.name
    first, last = cpu.stages
    assert first.weights.tergan_expression == first.weights.tergan_identity == first.weights.adv_img == 0
    assert last.weights.tergan_expression > 0 and last.weights.tergan_identity > 0 and "d_img" in last.trains


def test_smoke_run_trains_exports_loads_and_edits_a_photo(prepared: Path, tmp_path: Path, london_neutral: Path) -> None:
    from faceedit.core.editor import ExpressionEditor
    from faceedit.core.expressions import ExpressionTargets
    from faceedit.core.faces import face_detector
    from faceedit.core.imageio import load_photo
    from faceedit.core.models.file import load_model
    from trainer.export import export_run

    config = resolve_config("smoke", family="tergan")
    result = train_run(prepared, config, runs=tmp_path / "runs", device="cpu")
    assert result.status == "finished" and result.steps == config.total_steps == 4
    lines = [json.loads(line) for line in (result.run / "progress.jsonl").read_text().splitlines()]
    assert [line["stage"] for line in lines] == ["reconstruction"] * 2 + ["consistency"] * 2
    last = lines[-1]["losses"]
    for key in ("G/pixel", "G/tergan_cross", "G/recognition", "G/tergan_code", "G/tergan_expression",
                "G/tergan_identity", "G/adv_img", "D/img"):
        assert key in last and math.isfinite(last[key]), key
    assert "G/tergan_expression" not in lines[0]["losses"] and "D/img" not in lines[0]["losses"]
    assert (result.run / "samples" / "latest.png").exists()

    model_path = export_run(result.run, tmp_path / "tergan.pt")
    model = load_model(model_path, "cpu", "fp32")  # weights_only inside
    assert isinstance(model.network, TERGAN) and model.info.family.name == "tergan" and model.info.provenance.steps == 4

    pixels = load_photo(london_neutral).pixels
    face = face_detector().detect(pixels)[0]
    editor = ExpressionEditor(model)
    encoded = editor.encode(pixels, face)
    assert encoded.recognised.shape == (6,) and ((encoded.recognised >= 0) & (encoded.recognised <= 1)).all()
    assert np.array_equal(editor.render(pixels, [encoded], ExpressionTargets()), pixels)  # sliders where they start
    happier = editor.render(pixels, [encoded], ExpressionTargets().with_value("happiness", 1.0))
    assert happier.shape == pixels.shape and not np.array_equal(happier, pixels)
