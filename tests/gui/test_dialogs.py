"""The batch export and retrain dialogs, offscreen, driving the real engine objects.

Batch export runs on the runner's own thread with a tiny random model; retraining runs
``faceedit-train`` prepare → train (smoke preset) → export in child processes.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import SHARED_DATA, shared_file
from faceedit.core.expressions import EXPRESSIONS, ExpressionTargets
from faceedit.core.imageio import load_photo

pytest.importorskip("pytestqt")


@pytest.fixture
def no_modals(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """QMessageBox never blocks: warnings are recorded, questions answered Yes."""
    from PySide6.QtWidgets import QMessageBox

    messages: list[str] = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text, *a, **k: messages.append(text))
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    return messages


def _london_ids(count: int) -> list[str]:
    """File names present in both London folders (neutral and smiling), the first ``count``."""
    shared_file("london/neutral")
    neutral = {p.name for p in (SHARED_DATA / "london" / "neutral").glob("*.jpg")}
    smiling = {p.name for p in (SHARED_DATA / "london" / "smiling").glob("*.jpg")}
    names = sorted(neutral & smiling)[:count]
    if len(names) < count:
        pytest.skip(f"fewer than {count} London pairs in {SHARED_DATA}")
    return names


def _photo_folder(folder: Path, count: int, lisa: bool = False) -> Path:
    folder.mkdir(parents=True)
    for name in _london_ids(count):
        shutil.copy(SHARED_DATA / "london" / "neutral" / name, folder / f"london-{name}")
    if lisa:
        shutil.copy(shared_file("lisa/lisa1.jpg"), folder / "lisa1.jpg")
    return folder


def _batch_dialog(qtbot, model: Path, targets: ExpressionTargets):  # noqa: ANN001, ANN202
    from faceedit.gui.batch_dialog import BatchDialog

    dialog = BatchDialog(None, str(model), "cpu", targets)
    qtbot.addWidget(dialog)
    return dialog


# ------------------------------------------------------------------------------ batch export


def test_batch_dialog_exports_and_summarises(qtbot, monkeypatch, no_modals, tiny_model_path: Path, tmp_path: Path) -> None:  # noqa: ANN001
    from PySide6.QtGui import QDesktopServices

    from faceedit.core.imageio import save_photo

    photos = _photo_folder(tmp_path / "in", 2, lisa=True)
    (photos / "broken.jpg").write_bytes(b"not an image")
    save_photo(photos / "blank.png", np.full((200, 200, 3), 128, np.uint8))  # a photo without a face
    out = tmp_path / "out"
    dialog = _batch_dialog(qtbot, tiny_model_path, ExpressionTargets.from_mapping({"happiness": 1.0}))
    dialog.input_edit.setText(str(photos))
    assert dialog.output_edit.text() == str(tmp_path / "in-faceedit")  # suggested beside the input
    dialog.output_edit.setText(str(out))
    assert dialog.current_radio.isChecked() and "happiness 1.00" in dialog.current_label.text()
    dialog.format_combo.setCurrentIndex(dialog.format_combo.findData(".png"))
    seen: list[tuple[int, int]] = []
    dialog.start()
    assert not dialog.start_button.isEnabled() and dialog.cancel_button.isEnabled()
    dialog._runner.progress.connect(lambda done, total, path, eta: seen.append((done, total)))
    qtbot.waitUntil(lambda: dialog.last_summary is not None, timeout=90_000)

    summary = dialog.last_summary
    assert (summary.total, summary.processed, summary.no_face, summary.failed) == (5, 3, 1, 1)
    assert not summary.cancelled
    written = sorted(p.name for p in out.iterdir())
    assert written == ["lisa1.png", *sorted(f"london-{n[:-4]}.png" for n in _london_ids(2)), "outputs.csv"]
    assert seen and seen[-1] == (5, 5)
    assert dialog.progress_bar.value() == 5 and "5 / 5" in dialog.progress_bar.text()
    text = dialog.summary_view.toPlainText()
    assert "3 processed" in text and "1 without a usable face" in text and "1 failed" in text
    assert "broken.jpg" in text and "blank.png" in text
    assert dialog.start_button.isEnabled() and not dialog.cancel_button.isEnabled()

    opened = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url.toLocalFile()) or True)
    assert dialog.open_button.isEnabled()
    dialog.open_button.click()
    assert opened == [str(out.resolve())]
    assert not no_modals
    dialog.close()


def test_batch_dialog_all_expressions_mode(qtbot, no_modals, tiny_model_path: Path, tmp_path: Path) -> None:  # noqa: ANN001
    photos = _photo_folder(tmp_path / "in", 1)
    out = tmp_path / "out"
    dialog = _batch_dialog(qtbot, tiny_model_path, ExpressionTargets())
    assert dialog.all_radio.isChecked()  # no slider moved: the dataset mode is the useful one
    assert dialog.levels_edit.text() == "0.25,0.5,0.75,1.0"
    dialog.input_edit.setText(str(photos))
    dialog.output_edit.setText(str(out))
    dialog.levels_edit.setText("2")
    dialog.start()
    assert "outside [0, 1]" in dialog.status_label.text() and dialog._runner is None
    dialog.levels_edit.setText("0.5, 1")
    dialog.start()
    qtbot.waitUntil(lambda: dialog.last_summary is not None, timeout=60_000)
    stem = f"london-{_london_ids(1)[0][:-4]}"
    for expression in EXPRESSIONS:
        assert sorted(p.name for p in (out / expression).iterdir()) == [f"{stem}_0.50.jpg", f"{stem}_1.00.jpg"]
    assert dialog.last_summary.processed == 1
    # "The faces are neutral": the same levels from a neutral start give other pictures.
    dialog.last_summary = None
    dialog.neutral_check.setChecked(True)
    dialog.output_edit.setText(str(tmp_path / "from-neutral"))
    dialog.start()
    qtbot.waitUntil(lambda: dialog.last_summary is not None, timeout=60_000)
    first, neutral = (load_photo(o / "happiness" / f"{stem}_1.00.jpg").pixels for o in (out, tmp_path / "from-neutral"))
    assert not np.array_equal(first, neutral)
    dialog.close()


def test_batch_dialog_cancel_stops_early(qtbot, no_modals, tiny_model_path: Path, tmp_path: Path) -> None:  # noqa: ANN001
    photos = _photo_folder(tmp_path / "in", 6)
    out = tmp_path / "out"
    dialog = _batch_dialog(qtbot, tiny_model_path, ExpressionTargets.from_mapping({"sadness": 0.5}))
    dialog.input_edit.setText(str(photos))
    dialog.output_edit.setText(str(out))
    dialog.start()
    dialog._runner.progress.connect(lambda *args: dialog.cancel())  # cancel at the first photo done
    qtbot.waitUntil(lambda: dialog.last_summary is not None, timeout=60_000)
    summary = dialog.last_summary
    assert summary.cancelled and summary.total == 6
    assert 1 <= summary.processed < 6
    assert (out / "outputs.csv").exists()
    assert len([p for p in out.iterdir() if p.suffix == ".jpg"]) == summary.processed
    assert "cancelled" in dialog.summary_view.toPlainText() and dialog.status_label.text() == "Cancelled."
    dialog.close()


# ------------------------------------------------------------------------------ retraining


@pytest.fixture(scope="module")
def pairs_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six London ids as a pairs dataset: neutral/ and smiling/."""
    root = tmp_path_factory.mktemp("london-pairs")
    for kind in ("neutral", "smiling"):
        (root / kind).mkdir()
        for name in _london_ids(6):
            shutil.copy(SHARED_DATA / "london" / kind / name, root / kind / name)
    return root


@pytest.fixture(scope="module")
def retrain_work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One work folder for the retrain tests, so the later ones reuse the prepared faces."""
    return tmp_path_factory.mktemp("training")


def test_retrain_dialog_smoke_end_to_end(qtbot, no_modals, pairs_dataset: Path, retrain_work: Path) -> None:  # noqa: ANN001
    from faceedit.core.models.file import read_model_info
    from faceedit.gui.retrain_dialog import RetrainDialog

    dialog = RetrainDialog(None, work_dir=retrain_work)
    qtbot.addWidget(dialog)
    assert dialog.work_edit.text() == str(retrain_work) and not dialog.resume_button.isEnabled()
    dialog.dataset_edit.setText(str(pairs_dataset))
    qtbot.waitUntil(lambda: "paired" in dialog.detected_label.text(), timeout=5_000)
    dialog.preset_combo.setCurrentIndex(dialog.preset_combo.findData("smoke"))
    dialog.device_combo.setCurrentIndex(dialog.device_combo.findData("cpu"))
    dialog.steps_spin.setValue(3)
    settings = dialog.settings()
    assert (settings.preset, settings.image_size, settings.max_steps, settings.device) == ("smoke", 64, 3, "cpu")
    progress, phases = [], []
    dialog.process.progress.connect(progress.append)
    dialog.process.phase_changed.connect(phases.append)
    with qtbot.waitSignal(dialog.model_ready, timeout=120_000) as ready:
        dialog.start()
        assert dialog.cancel_button.isEnabled() and not dialog.start_button.isEnabled()
    model = Path(ready.args[0])
    assert phases == ["prepare", "train", "export"], no_modals
    assert model.exists() and model.parent == retrain_work and model.name == "model-00000-smoke.pt"
    assert read_model_info(model).config.image_size == 64
    assert [p.step for p in progress] == [1, 2, 3] and progress[-1].total_steps == 3
    assert all("G/total" in p.losses for p in progress)
    assert dialog.loss_plot.points("G/total") == 3 and len(dialog.loss_plot.curves) > 3
    assert dialog.sample_view.has_image and Path(dialog.sample_view.path).exists()
    assert dialog.progress_bar.text() == "done"
    assert dialog.start_button.isEnabled() and not dialog.cancel_button.isEnabled()
    assert "prepared" in dialog.log_view.toPlainText() and not no_modals
    dialog.close()


def test_retrain_cancel_then_resume(qtbot, no_modals, pairs_dataset: Path, retrain_work: Path) -> None:  # noqa: ANN001
    from faceedit.engine.retrain import RetrainProcess, RetrainSettings, resumable_run
    from faceedit.training.runs import run_progress

    process = RetrainProcess()
    # The smoke preset's own 9 steps: long enough that the Ctrl-C sent at the first progress
    # line lands mid-run (3 steps finish before it arrives, now that a CPU step is faster).
    settings = RetrainSettings(pairs_dataset, retrain_work, preset="smoke", device="cpu")
    first: list = []

    def cancel_once(progress: object) -> None:
        if not first:
            first.append(progress)
            process.cancel()  # SIGINT: the trainer saves its state and exits

    process.progress.connect(cancel_once)
    with qtbot.waitSignal(process.cancelled, timeout=90_000) as stopped:
        process.start(settings)
    run = Path(stopped.args[0])
    assert resumable_run(retrain_work) == run and not process.running
    stopped_at = run_progress(run)
    assert stopped_at is not None and stopped_at.step < stopped_at.total_steps == 9
    process.progress.disconnect(cancel_once)

    steps: list[int] = []
    process.progress.connect(lambda p: steps.append(p.step))
    with qtbot.waitSignal(process.finished, timeout=90_000) as finished:
        process.resume(settings)
    assert Path(finished.args[0]) == retrain_work / f"model-{run.name}.pt" and Path(finished.args[0]).exists()
    assert steps[-1] == 9 and steps[0] == 1  # the whole history replays into the curves, then the rest
    assert run_progress(run).step == 9


def test_retrain_bad_dataset_gives_a_message(qtbot, no_modals, tmp_path: Path) -> None:  # noqa: ANN001
    from faceedit.gui.retrain_dialog import RetrainDialog

    bad = tmp_path / "holiday"
    (bad / "misc").mkdir(parents=True)
    (bad / "notes.txt").write_text("not a dataset")
    dialog = RetrainDialog(None, work_dir=tmp_path / "work")
    qtbot.addWidget(dialog)
    dialog.start()
    assert no_modals == ["Choose a dataset folder"]
    dialog.dataset_edit.setText(str(tmp_path / "missing"))
    dialog.start()
    assert "does not exist" in no_modals[-1] and dialog.start_button.isEnabled()
    dialog.dataset_edit.setText(str(bad))
    qtbot.waitUntil(lambda: "not a dataset" in dialog.detected_label.text(), timeout=5_000)
    with qtbot.waitSignal(dialog.process.failed, timeout=60_000):
        dialog.start()  # prepare decides, and its one-line error comes back
    assert "cannot tell what kind of dataset" in no_modals[-1], no_modals
    assert no_modals[-1].startswith("Prepare failed:")
    assert dialog.start_button.isEnabled() and not dialog.cancel_button.isEnabled()
    dialog.close()


def test_retrain_dialog_passes_its_precision_to_the_trainer(qtbot, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    from faceedit.engine.retrain import RetrainProcess
    from faceedit.gui.retrain_dialog import RetrainDialog

    dialog = RetrainDialog(None, work_dir=tmp_path / "work", precision="bf16")
    qtbot.addWidget(dialog)
    dialog.dataset_edit.setText(str(tmp_path))
    settings = dialog.settings()
    assert settings.precision == "bf16" and dialog.precision_combo.currentData() == "bf16"
    launched: list[list[str]] = []
    monkeypatch.setattr(RetrainProcess, "_launch", lambda self, phase, args: launched.append(args))
    dialog.process._settings = settings
    dialog.process._start_train()
    assert launched and launched[0][launched[0].index("--precision") + 1] == "bf16"


def test_batch_dialog_typing_an_absolute_path_suggests_an_output_without_error(qtbot, tiny_model_path: Path) -> None:  # noqa: ANN001
    """Typing "/home/…" character by character passes through "/", which has no name (it used to raise)."""
    from faceedit.gui.batch_dialog import BatchDialog

    dialog = BatchDialog(None, str(tiny_model_path), "cpu", ExpressionTargets())
    qtbot.addWidget(dialog)
    typed = ""
    for character in "/data/photos":
        typed += character
        dialog.input_edit.setText(typed)  # each keystroke; an exception here would fail the test
    assert dialog.output_edit.text() == "/data/photos-faceedit"


def test_batch_dialog_can_edit_with_a_preset(qtbot, tiny_model_path: Path, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    from faceedit.gui.batch_dialog import BatchDialog

    monkeypatch.setenv("FACEEDIT_PRESETS_DIR", str(tmp_path / "presets"))
    dialog = BatchDialog(None, str(tiny_model_path), "cpu", ExpressionTargets.from_mapping({"anger": 0.5}))
    qtbot.addWidget(dialog)
    (tmp_path / "in").mkdir()
    dialog.input_edit.setText(str(tmp_path / "in"))
    assert dialog.request().targets.as_dict()["anger"] == 0.5  # the current slider state by default
    dialog.preset_combo.setCurrentIndex(dialog.preset_combo.findData("big smile"))
    assert dialog.preset_radio.isChecked()
    targets = dialog.request().targets.as_dict()
    assert targets["happiness"] == 1.0 and targets["anger"] is None
