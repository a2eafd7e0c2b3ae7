"""The CDAAE objective: its tables and presets, a smoke run to an edited photo (exact resume: test_families.py)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from conftest import shared_file
from faceedit.core.editor import ExpressionEditor
from faceedit.core.expressions import ExpressionTargets
from faceedit.core.faces import face_detector
from faceedit.core.imageio import load_photo
from faceedit.core.models.cdaae import CDAAE, CDAAEConfig
from faceedit.core.models.file import load_model
from trainer.config import resolve_config
from trainer.export import export_run
from trainer.families import objective_for
from trainer.train import train_run


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    shared_file("london/neutral/001.jpg")
    from trainer_fixtures import build_prepared

    return build_prepared(tmp_path_factory.mktemp("prepared"))


def test_the_objective_and_its_presets() -> None:
    objective = objective_for("cdaae")
    assert [spec.name for spec in objective.networks] == ["generator", "d_img", "d_z", "d_expr"]
    assert set(objective.parts) == {"encoder", "decoder", "d_img", "d_z", "d_expr"}
    assert set(objective.presets) == {"cpu", "gpu", "smoke"} and objective.default_preset == "cpu"
    cpu = resolve_config(None, family="cdaae")
    assert cpu.preset == "cpu" and cpu.family == "cdaae" and isinstance(cpu.model, CDAAEConfig)
    assert (cpu.model.image_size, cpu.model.image_channels, cpu.batch_size, cpu.total_steps) == (64, 1, 32, 1_000)
    assert cpu.balanced and cpu.paired_fraction == 0.25 and cpu.checkpoint_every == cpu.sample_every == 250
    w = cpu.stages[0].weights
    assert w.cdaae_difference > 0 and w.paired > 0 and w.identity == w.identity_edit == 0  # no identity network on a CPU
    gpu = resolve_config("gpu", family="cdaae")
    assert (gpu.model.image_size, gpu.model.image_channels) == (128, 3) and gpu.total_steps >= 10_000


def test_smoke_run_exports_a_model_that_edits_a_photo(prepared: Path, tmp_path: Path, london_neutral: Path) -> None:
    config = resolve_config("smoke", family="cdaae")
    result = train_run(prepared, config, runs=tmp_path / "runs", device="cpu")
    assert result.status == "finished" and result.steps == config.total_steps
    lines = [json.loads(line) for line in (result.run / "progress.jsonl").read_text().splitlines()]
    seen = {key for line in lines for key in line["losses"]}
    for key in ("G/pixel", "G/paired", "G/cdaae_difference", "G/recognition", "G/recognition_edit", "G/adv_img",
                "G/adv_z", "G/adv_expr", "G/tv", "D/img", "D/z", "D/expr"):
        assert key in seen, key
    assert all(math.isfinite(v) for line in lines for v in line["losses"].values())
    assert (result.run / "samples" / "latest.png").exists()

    model_path = export_run(result.run, tmp_path / "cdaae.pt")
    model = load_model(model_path)  # weights_only
    assert model.info.family.name == "cdaae" and isinstance(model.network, CDAAE)
    editor = ExpressionEditor(model)
    photo = load_photo(london_neutral).pixels
    encoded = editor.encode(photo, face_detector().detect(photo)[0])
    assert np.array_equal(editor.render(photo, [encoded], ExpressionTargets()), photo)
    edited = editor.render(photo, [encoded], ExpressionTargets.from_mapping({"happiness": 1.0, "anger": 0.0}))
    assert edited.shape == photo.shape and np.any(edited != photo)
