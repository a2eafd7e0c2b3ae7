"""faceedit.training: what the trainer and the app share about training, and that both use it.

The trainer and the engine once kept their own copies of presets, run-folder names, the
progress record and the dataset check; these tests pin the one shared copy instead: the
trainer builds its presets from it, the retrain dialog's texts come from it, the files it
describes are the files the trainer writes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from faceedit.core.errors import FaceeditError
from faceedit.training.datasets import INFO_NAME, KIND_CHOICES, KINDS, LABEL_ALIASES, check_dataset
from faceedit.training.presets import PRESET_INFO, preset_image_size
from faceedit.training.runs import (
    CONFIG_NAME,
    PROGRESS_NAME,
    Progress,
    RunConfig,
    new_run_dir,
    numbered_runs,
    run_progress,
)

ROOT = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------------------ the package itself


def test_importing_the_shared_package_loads_neither_torch_nor_qt() -> None:
    code = (
        "import sys, faceedit.training.datasets, faceedit.training.presets, faceedit.training.runs; "
        "print(' '.join(sorted(sys.modules)))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    loaded = set(result.stdout.split())
    assert not {"torch", "PySide6", "trainer"} & loaded


# ------------------------------------------------------------------------------ presets


def test_the_trainer_builds_its_presets_from_the_shared_metadata() -> None:
    from trainer.config import PRESETS

    assert set(PRESETS) == set(PRESET_INFO)
    for name, config in PRESETS.items():
        info = PRESET_INFO[name]
        assert (config.preset, config.model.image_size, config.model.width, config.model.image_channels) == (
            name, info.image_size, info.width, info.image_channels,
        )  # fmt: skip
        assert preset_image_size(name) == config.model.image_size
    assert preset_image_size("no such preset") == 128


def test_the_retrain_dialog_lists_the_same_choices_as_before() -> None:
    assert [(info.name, info.choice_text) for info in PRESET_INFO.values()] == [
        ("desktop", "desktop — 128 px, half width; trains on a good CPU or any GPU"),
        ("paper", "paper — the published network, 128 px, full width; needs a GPU"),
        ("bundled", "bundled — the shipped model's recipe: 64 px luminance, about 11 min on 2 cores"),
        ("smoke", "smoke — tiny and a few steps: checks that everything runs"),
    ]


# ------------------------------------------------------------------------------ datasets


def test_the_trainer_uses_the_shared_dataset_names() -> None:
    import trainer.datasets
    import trainer.manifest
    import trainer.prepare

    assert trainer.datasets.KINDS is KINDS and trainer.datasets.LABEL_ALIASES is LABEL_ALIASES
    assert trainer.manifest.INFO_NAME == INFO_NAME == "prepare.json"
    assert KIND_CHOICES == ("auto", "oulu", "folders", "pairs")
    assert set(LABEL_ALIASES.values()) == set(trainer.manifest.LABELS)
    assert trainer.prepare.PrepareOptions(kind="pairs").kind == "pairs"


def _photo(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")  # the check reads names, never pixels


def test_check_dataset_agrees_with_the_trainers_detection(tmp_path: Path) -> None:
    from trainer.datasets import detect_kind

    for person in ("001", "002", "003"):
        for folder in ("neutral", "Smile"):
            _photo(tmp_path / "pairs" / "london" / folder / f"{person}.jpg")
    for label in ("Angry", "happy", "neutral"):
        _photo(tmp_path / "fer" / "unpacked" / label / "1.jpg")
    _photo(tmp_path / "fer" / "unpacked" / "happy" / "S010" / "2.png")
    (tmp_path / "oulu" / "OriginalImg" / "VL" / "Strong" / "P001" / "Anger").mkdir(parents=True)
    (tmp_path / "cropped" / "x" / "PreProcess_Img" / "VL_Acropped").mkdir(parents=True)
    for name in ("pairs", "fer", "oulu", "cropped"):
        assert check_dataset(tmp_path / name).kind == detect_kind(tmp_path / name)

    assert check_dataset(tmp_path / "pairs").description == "paired neutral/smiling folders: 3 people"
    assert check_dataset(tmp_path / "fer").description == "expression folders: anger 1, happiness 2, neutral 1"
    assert check_dataset(tmp_path / "oulu").description == "Oulu-CASIA (original frames in OriginalImg; 1 subjects in VL/Strong)"
    assert check_dataset(tmp_path / "cropped").kind == "oulu"

    (tmp_path / "other" / "misc").mkdir(parents=True)
    _photo(tmp_path / "one-label" / "happy" / "1.jpg")
    for name in ("other", "one-label", "missing"):
        assert not check_dataset(tmp_path / name).ok
        with pytest.raises(FaceeditError, match="cannot tell what kind of dataset"):
            detect_kind(tmp_path / name)
    assert "does not exist" in check_dataset(tmp_path / "missing").description
    assert "not a dataset faceedit can read" in check_dataset(tmp_path / "other").description


def test_the_dialogs_look_is_capped_and_the_trainers_is_not(tmp_path: Path) -> None:
    from trainer.datasets import detect_kind

    for index in range(12):
        (tmp_path / "home" / f"folder{index:02d}").mkdir(parents=True)
    (tmp_path / "home" / "folder11" / "OriginalImg").mkdir()
    assert check_dataset(tmp_path / "home", max_folders=5).kind is None
    assert check_dataset(tmp_path / "home").kind == detect_kind(tmp_path / "home") == "oulu"


# ------------------------------------------------------------------------------ runs


def test_progress_lines_round_trip_and_damaged_ones_are_skipped() -> None:
    progress = Progress(5, 9, "refining", {"G/total": 1.5}, 12.0, 30.0, "samples/step-000005.png")
    line = progress.to_json()
    assert json.loads(line) == {
        "step": 5, "total_steps": 9, "stage": "refining", "losses": {"G/total": 1.5},
        "images_per_second": 12.0, "eta_seconds": 30.0, "sample": "samples/step-000005.png", "extra": {},
    }  # fmt: skip
    assert Progress.from_json(line) == progress
    later = Progress(6, 9, "refining", {"G/total": 1.25}, 12.0, 25.0)
    assert Progress.from_json(later.to_json(), latest_sample="a.png").sample == "a.png"
    for bad in (line[: len(line) // 2], "", "[]", '{"step": 1}', '{"step": "x", "total_steps": 2}'):
        assert Progress.from_json(bad) is None
    assert Progress.from_json('{"step": 1, "total_steps": 2}') == Progress(1, 2, "")


def test_run_progress_is_the_last_complete_line(tmp_path: Path) -> None:
    assert run_progress(tmp_path) is None
    lines = [Progress(step, 3, "reconstruction").to_json() for step in (1, 2)]
    (tmp_path / PROGRESS_NAME).write_text("\n".join(lines) + '\n{"step": 3, "tot', encoding="utf-8")
    last = run_progress(tmp_path)
    assert last is not None and last.step == 2


def test_run_folders_are_numbered(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    assert numbered_runs(runs) == []
    first = new_run_dir(runs, "smoke")
    second = new_run_dir(runs, "desktop")
    (runs / "notes").mkdir()
    assert [first.name, second.name] == ["00000-smoke", "00001-desktop"]
    assert numbered_runs(runs) == [first, second]
    (runs / "00007-left.txt").write_text("")  # a file still takes its number
    assert new_run_dir(runs, "smoke").name == "00008-smoke"
    (tmp_path / "file").write_text("")
    with pytest.raises(FaceeditError, match="is a file"):
        new_run_dir(tmp_path / "file", "smoke")


def test_run_config_round_trips_and_says_what_is_wrong(tmp_path: Path) -> None:
    config = RunConfig(train={"preset": "smoke", "batch_size": 4}, prepared=tmp_path / "prepared", world_size=2)
    config.write(tmp_path)
    assert json.loads((tmp_path / CONFIG_NAME).read_text()) == {
        "train": {"preset": "smoke", "batch_size": 4}, "prepared": str(tmp_path / "prepared"), "world_size": 2,
    }  # fmt: skip
    assert RunConfig.read(tmp_path) == config
    with pytest.raises(FaceeditError, match="is not a training run"):
        RunConfig.read(tmp_path / "elsewhere")
    (tmp_path / CONFIG_NAME).write_text('{"train": {}')
    with pytest.raises(FaceeditError, match="damaged"):
        RunConfig.read(tmp_path)
    (tmp_path / CONFIG_NAME).write_text('{"train": {}}')
    with pytest.raises(FaceeditError, match="no 'prepared' entry"):
        RunConfig.read(tmp_path)


def test_prepared_header_is_read_typed_or_not_at_all(tmp_path: Path) -> None:
    import json

    from faceedit.training.datasets import INFO_NAME, PreparedHeader, read_prepared_header

    assert read_prepared_header(tmp_path) is None
    (tmp_path / INFO_NAME).write_text(json.dumps({"root": "/data/x", "size": 64, "kind": "pairs", "other": 1}))
    assert read_prepared_header(tmp_path) == PreparedHeader(Path("/data/x"), 64, "pairs")
    (tmp_path / INFO_NAME).write_text("{half")
    assert read_prepared_header(tmp_path) is None
