"""faceedit-train compare: two tiny random ExprGAN models on a tiny prepared set, one table.

Mechanics only (random weights): the three outputs exist, a row per model with finite
numbers, one judge for both, clear one-line refusals, no overwrite without --overwrite.
The models' provenance names the smoke preset, so the training steps timed are smoke's.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from faceedit.core.imageio import load_photo
from faceedit.core.models.exprgan import ExprGANConfig, Generator
from faceedit.core.models.file import Provenance, read_model_info, save_model
from trainer import compare as compare_module
from trainer.cli import main as train_main
from trainer.compare import JSON_NAME, SHEET_NAME, TABLE_NAME, Spread, comparison_sheet, timing_config
from trainer.evaluate import SHEET_FOOTER, SHEET_GAP, SHEET_HEADER, sheet_cell_size
from trainer.judge import JudgeConfig

from conftest import SHARED_DATA, needs_shared_data
from trainer_fixtures import build_prepared

# A judge that trains in well under a second: mechanics, not accuracy.
FAST_JUDGE = JudgeConfig(size=32, width=4, min_steps=10, max_steps=10, batch_size=16)


@pytest.fixture(scope="module", autouse=True)
def _fast_judge_one_thread() -> Iterator[None]:
    """The fast judge for the command line too; one torch thread (on a shared 2-core machine two
    threads contending with other processes make these tiny networks ~5× slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(compare_module, "JUDGE_CONFIG", FAST_JUDGE)
        yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_prepared(tmp_path_factory.mktemp("prepared"), size=64, ids=6)


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two tiny random models, RGB and luminance, whose provenance names the smoke preset."""
    folder = tmp_path_factory.mktemp("models")
    paths = []
    for seed, (name, config) in enumerate({
        "tiny-a.pt": ExprGANConfig(image_size=64, width=0.125),
        "tiny-b.pt": ExprGANConfig(image_size=64, width=0.125, image_channels=1),
    }.items()):
        torch.manual_seed(seed)
        save_model(folder / name, Generator(config),
                   provenance=Provenance(data="random weights", steps=9 + seed, notes="preset smoke; run 00001-smoke"))
        paths.append(folder / name)
    return paths


@pytest.fixture(scope="module")
def compared(models: list[Path], prepared: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One `faceedit-train compare` of both models: its output folder and what it printed."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared photo data not found at {SHARED_DATA}")
    out = tmp_path_factory.mktemp("compared") / "cmp"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = train_main(["compare", *map(str, models), "--data", str(prepared), "--out", str(out), "--max-faces", "1",
                           "--timing-steps", "2", "--device", "cpu"])
    assert code == 0
    return out, stdout.getvalue()


def _finite(value: object) -> bool:
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return all(_finite(v) for v in value)
    return not isinstance(value, float) or math.isfinite(value)


@needs_shared_data
def test_two_models_on_one_table(compared: tuple[Path, str], models: list[Path]) -> None:
    out, printed = compared
    for name in (TABLE_NAME, JSON_NAME, SHEET_NAME):
        assert (out / name).is_file()
    table = (out / TABLE_NAME).read_text()
    rows = [line for line in table.splitlines() if line.startswith("| ExprGAN")]
    assert len(rows) == 2 and "`tiny-a.pt`" in rows[0] and "`tiny-b.pt`" in rows[1]
    assert "\n".join(rows) in printed and "torch " in table and "cores" in table
    assert "n/a" not in "".join(rows)  # every column measured
    assert "how it was measured" in table.lower() and "not through the window" in table
    assert "- `tiny-a.pt`: ExprGAN " in table  # what each file holds, so rows of one family can be told apart

    saved = json.loads((out / JSON_NAME).read_text())
    assert _finite(saved) and [m["file"] for m in saved["models"]] == [str(p) for p in models]
    for model in saved["models"]:
        assert model["family"] == "exprgan" and model["title"] == "ExprGAN"
        assert model["training_step"]["preset"] == "smoke" and model["training_step"]["preset_from"] == "provenance"
        assert model["training_step"]["seconds"]["runs"] == 2 and model["training_step"]["seconds"]["median"] > 0
        assert model["slider_latency"]["change_ms"]["runs"] == compare_module.SLIDER_POSITIONS
        assert model["slider_latency"]["change_ms"]["median"] > 0
        assert model["evaluation"]["counts"]["edited_faces"] == 1
        assert 0 <= model["held_out_reading"]["neutral_read_neutral"] <= 1
    # One judge for both: the same classes, training and test accuracy.
    judges = [m["evaluation"]["judge"] for m in saved["models"]]
    assert judges[0] == judges[1] == {**judges[0], "cached": True}

    faces = len(saved["sheet_faces"])
    assert 1 <= faces <= 3
    sheet = load_photo(out / SHEET_NAME).pixels
    assert sheet.shape[0] > faces * 2 * 128 and sheet.shape[1] > 7 * 128  # a row of 128-px cells per face and model


@needs_shared_data
def test_refusals_are_one_clear_line(models: list[Path], prepared: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cmp"
    not_a_model = tmp_path / "notes.pt"
    not_a_model.write_text("not a model")
    cases = {
        "does not exist": [str(models[0]), str(tmp_path / "missing.pt")],
        "not a readable model": [str(models[0]), str(not_a_model)],
    }
    for message, arguments in cases.items():
        assert train_main(["compare", *arguments, "--data", str(prepared), "--out", str(out)]) == 1
        error = capsys.readouterr().err.strip().splitlines()
        assert len(error) == 1 and error[0].startswith("faceedit-train: error:") and message in error[0]
    assert train_main(["compare", str(models[0]), "--data", str(tmp_path / "nowhere"), "--out", str(out)]) == 1
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "does not exist" in error[0]
    assert not out.exists()  # refused before any work


@needs_shared_data
def test_no_overwrite_without_the_flag(compared: tuple[Path, str], models: list[Path], prepared: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cmp"
    shutil.copytree(compared[0], out)
    before = {name: (out / name).read_bytes() for name in (TABLE_NAME, JSON_NAME, SHEET_NAME)}
    arguments = ["compare", str(models[1]), "--data", str(prepared), "--out", str(out), "--max-faces", "1", "--timing-steps", "1"]
    assert train_main(arguments) == 1  # refused before any work
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "already exists (use --overwrite" in error[0]
    assert before == {name: (out / name).read_bytes() for name in before}

    assert train_main([*arguments, "--overwrite"]) == 0
    saved = json.loads((out / JSON_NAME).read_text())
    assert [m["file"] for m in saved["models"]] == [str(models[1])]
    assert (out / TABLE_NAME).read_bytes() != before[TABLE_NAME]
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no temporary files left


def test_timing_config_turns_shape_options_off_and_reads_the_preset(tmp_path: Path) -> None:
    path = tmp_path / "shaped.pt"
    save_model(path, Generator(ExprGANConfig(image_size=64, width=0.125, geometry=True, appearance="mean_ratio")),
               provenance=Provenance(notes="trained elsewhere"))
    config, source = timing_config(read_model_info(path))
    assert source == "family default" and config.family == "exprgan"
    assert config.model == ExprGANConfig(image_size=64, width=0.125)  # geometry off, appearance back to "network"
    assert timing_config(read_model_info(path), "smoke")[0].preset == "smoke"


def test_the_sheet_takes_models_of_different_sizes_and_spreads_are_ordered() -> None:
    rows = [("ExprGAN", "a.pt", [np.full((64, 64, 3), 80, np.uint8)] * 7),
            ("CDAAE", "b-with-a-very-long-file-name-indeed.pt", [np.full((128, 128, 3), 160, np.uint8)] * 7)]
    sheet = comparison_sheet([("face 1", rows), ("face 2", rows)], footer="footer")
    cell = sheet_cell_size(128, 7)
    assert sheet.dtype == np.uint8 and sheet.shape[1] == compare_module.LABEL_WIDTH + SHEET_GAP + 7 * (cell + SHEET_GAP)
    assert sheet.shape[0] == SHEET_HEADER + 2 * (compare_module.BLOCK_CAPTION + 2 * (cell + SHEET_GAP)) + SHEET_GAP + SHEET_FOOTER
    x = compare_module.LABEL_WIDTH + 2 * SHEET_GAP + cell // 2
    y = SHEET_HEADER + compare_module.BLOCK_CAPTION + cell // 2
    assert (sheet[y, x] == 80).all() and (sheet[y + cell + SHEET_GAP, x] == 160).all()  # each row at the same cell size

    timing = Spread.of([3.0, 1.0, 2.0, 10.0], "s")
    assert (timing.median, timing.low, timing.high, timing.spread_name) == (2.5, 1.0, 10.0, "min–max")
    slider = Spread.of(list(range(1, 21)), "ms", percentiles=True)
    assert slider.low == 2 and slider.high == 19 and slider.spread_name == "5–95 %"
