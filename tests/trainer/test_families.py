"""Every registered model family, end to end: trains its smoke preset, saves, loads with
``weights_only``, edits a photo, resumes bit-identically, carries the shared geometry and
mouth interior, and opens in the CLI and the app exactly like ExprGAN.

Parametrised over :data:`faceedit.core.models.families.FAMILIES`: a family added to the
registry is tested here without a line changed (its own finer tests live beside it).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import shared_file
from faceedit.core.models.families import FAMILIES

NAMES = sorted(FAMILIES)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    shared_file("london/neutral/001.jpg")
    from trainer_fixtures import build_prepared

    return build_prepared(tmp_path_factory.mktemp("prepared"))


def _smoke(family: str):  # noqa: ANN202
    from trainer.config import resolve_config

    return resolve_config("smoke", family=family)


@pytest.fixture(scope="module")
def trained(prepared: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each family's smoke run, exported: family name → model file."""
    from trainer.export import export_run
    from trainer.train import train_run

    models = {}
    for family in NAMES:
        folder = tmp_path_factory.mktemp(f"runs-{family}")
        result = train_run(prepared, _smoke(family), runs=folder, device="cpu")
        assert result.status == "finished"
        models[family] = export_run(result.run, folder / f"{family}.pt")
    return models


@pytest.mark.parametrize("family", NAMES)
def test_family_has_cpu_gpu_and_smoke_presets_of_its_own(family: str) -> None:
    from trainer.families import objective_for

    objective = objective_for(family)
    assert {"smoke"} <= set(objective.presets) and objective.default_preset in objective.presets
    if family != "exprgan":  # ExprGAN keeps its published names: bundled (CPU) and paper (GPU)
        assert {"cpu", "gpu"} <= set(objective.presets)
    assert all(p.family == family for p in objective.presets.values())


@pytest.mark.parametrize("family", NAMES)
def test_model_file_loads_safely_and_edits_a_photo(family: str, trained: dict[str, Path], london_neutral: Path) -> None:
    from faceedit.core.editor import ExpressionEditor
    from faceedit.core.expressions import ExpressionTargets
    from faceedit.core.faces import face_detector
    from faceedit.core.imageio import load_photo
    from faceedit.core.models.file import load_model

    model = load_model(trained[family], "cpu", "fp32")  # weights_only inside
    assert model.info.family.name == family
    pixels = load_photo(london_neutral).pixels
    editor = ExpressionEditor(model)
    face = editor.encode(pixels, face_detector().detect(pixels)[0])
    assert face.recognised.shape == (6,) and ((face.recognised >= 0) & (face.recognised <= 1)).all()
    # Back at the recognised intensities: nothing changes, to the bit.
    assert np.array_equal(editor.render(pixels, [face], ExpressionTargets()), pixels)
    edited = editor.render(pixels, [face], ExpressionTargets.from_mapping({"happiness": 1.0, "surprise": 0.0, "anger": 0.0}))
    assert edited.shape == pixels.shape and not np.array_equal(edited, pixels)
    assert np.array_equal(pixels, load_photo(london_neutral).pixels)  # the input is never modified
    # Taken as neutral ("this face is neutral"): it starts at zero, zero changes nothing,
    # and edits are measured from there.
    neutral = editor.start_from(face, np.zeros(6, np.float32))
    assert np.array_equal(neutral.recognised, np.zeros(6, np.float32))
    assert np.array_equal(editor.render(pixels, [neutral], ExpressionTargets.exactly(np.zeros(6))), pixels)
    assert not np.array_equal(editor.render(pixels, [neutral], ExpressionTargets.exactly(np.ones(6))), pixels)
    assert np.array_equal(editor.start_from(neutral, None).recognised, face.recognised)  # back to the model's reading


@pytest.mark.parametrize("family", NAMES)
def test_resumed_run_is_bit_identical(family: str, prepared: Path, tmp_path: Path) -> None:
    from faceedit.training.runs import CHECKPOINT_NAME
    from trainer.state import load_state
    from trainer.train import train_run

    from trainer.families import objective_for

    config = _smoke(family)
    whole = train_run(prepared, config, runs=tmp_path / "whole", device="cpu")
    # Stop inside the last stage, after its first step: the resumed run must pick up the
    # stage's networks, optimisers and random streams where they were.
    stop_at = config.total_steps - config.stages[-1].steps + 1
    assert stop_at < config.total_steps

    def interrupt(progress) -> None:  # noqa: ANN001
        if progress.step == stop_at:
            raise KeyboardInterrupt

    halted = train_run(prepared, config, runs=tmp_path / "halted", device="cpu", progress_fn=interrupt)
    assert halted.status == "interrupted" and halted.steps == stop_at
    resumed = train_run(None, config, resume=halted.run, device="cpu")
    assert resumed.status == "finished" and resumed.steps == whole.steps == config.total_steps
    a, b = (load_state(r.run / CHECKPOINT_NAME) for r in (whole, resumed))
    assert a.networks.keys() == b.networks.keys() == {spec.name for spec in objective_for(family).networks}
    for name in a.networks:
        for key, value in a.networks[name].items():
            assert torch.equal(value, b.networks[name][key]), (name, key)
    for part in a.optimisers:
        for index, slot in a.optimisers[part]["state"].items():
            for key, value in slot.items():
                assert torch.equal(value, b.optimisers[part]["state"][index][key]), (part, index, key)


@pytest.mark.parametrize("family", NAMES)
def test_family_carries_the_shared_geometry_and_mouth_interior(family: str) -> None:
    """With geometry on, render returns the warp (and the mouth overlay where the mouth opens)."""
    from faceedit.core.alignment import align_face
    from faceedit.core.faces import face_detector
    from faceedit.core.imageio import load_photo
    from faceedit.core.models.pixels import uint8_to_model

    entry = FAMILIES[family]
    config = dataclasses.replace(_smoke(family).model, geometry=True, mouth_interior=True)
    torch.manual_seed(0)
    network = entry.build(config).eval()
    pixels = load_photo(shared_file("london/neutral/001.jpg")).pixels
    aligned = align_face(pixels, face_detector().detect(pixels)[0].landmarks, config.image_size)
    network.landmark_reference.copy_(torch.from_numpy(aligned.landmarks / config.image_size).float())
    shifts = torch.zeros(6, 68, 2)
    shifts[5, 57:60, 1] = 0.08  # surprise drops the lower lip: the mouth opens
    shifts[5, 65:68, 1] = 0.08
    shifts[5, 6:11, 1] = 0.05
    network.landmark_shifts.copy_(shifts)
    network.mouth_template.fill_(0.5)
    crop = torch.from_numpy(aligned.crop).permute(2, 0, 1)[None]
    images = uint8_to_model(crop if config.image_channels == 3 else crop.float().mean(1, keepdim=True).round().to(torch.uint8))
    with torch.inference_mode():
        reading = network.read(images, torch.from_numpy(aligned.landmarks).float()[None])
        target = reading.recognised.clone()
        target[0, 5] = 1.0
        edit = network.render(reading, target)
        still = network.render(reading, reading.recognised)
    assert edit.displacement is not None and edit.displacement.abs().max() > 0.5
    assert edit.overlay is not None and edit.overlay[:, 3].max() > 0
    assert still.displacement is not None and not still.displacement.abs().any()
    assert still.overlay is None and not still.image_change.abs().any()


@pytest.mark.parametrize("family", NAMES)
def test_cli_info_names_the_family_and_paper_and_edits(family: str, trained: dict[str, Path], london_neutral: Path,
                                                        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from faceedit.cli import main

    model = trained[family]
    assert main(["info", str(model)]) == 0
    out = capsys.readouterr().out
    assert FAMILIES[family].title in out and FAMILIES[family].paper.split(",")[0] in out
    output = tmp_path / "edited.jpg"
    assert main(["edit", str(london_neutral), "-o", str(output), "--happiness", "1", "--model", str(model), "--device", "cpu"]) == 0
    assert output.is_file()
    assert main(["recognize", str(london_neutral), "--json", "--model", str(model), "--device", "cpu"]) == 0
    assert '"happiness"' in capsys.readouterr().out
    smile = shared_file("london/smiling/001.jpg")
    moved = tmp_path / "transfer.jpg"
    assert main(["transfer", str(london_neutral), str(smile), "-o", str(moved), "--model", str(model), "--device", "cpu"]) == 0
    assert moved.is_file()


@pytest.mark.parametrize("family", NAMES)
def test_the_app_opens_each_family_and_its_slider_edits(family: str, trained: dict[str, Path], london_neutral: Path,
                                                         qtbot, tmp_path: Path) -> None:  # noqa: ANN001
    pytest.importorskip("pytestqt")
    from PySide6.QtCore import QSettings

    from faceedit.core.imageio import load_photo
    from faceedit.gui.main_window import MainWindow
    from faceedit.gui.settings import AppSettings

    settings = AppSettings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    window = MainWindow(device="cpu", synchronous=True, settings=settings, model=str(trained[family]), photo=str(london_neutral))
    window.ask_about_unsaved_edits = lambda: "discard"
    qtbot.addWidget(window)
    assert window._model is not None and FAMILIES[family].title in window._model.details.family
    original = load_photo(london_neutral).pixels
    slider = window.panel.sliders["happiness"]
    slider.setValue(100 if slider.value() < 50 else 0)
    assert not np.array_equal(window._current, original)
    window.close()
